# Subshells, pipes, substitutions, redirections and jobs: its output must be
# the same with and without fdtrack (test_real_programs.py).
set -eu
echo "start $(echo nested $(echo deeper))"
( cd /; echo "subshell in $PWD"; ( echo "sub-subshell" ) )
seq 1 200 | sort -rn | head -3 | tr '\n' ' '; echo
paste <(seq 1 3) <(seq 4 6)
exec 3>out.txt
echo "to fd 3" >&3
exec 3>&-
cat < out.txt
while read -r word; do echo "read $word"; done <<'WORDS'
alpha
beta
WORDS
{ echo one; echo two >&2; } 2>&1 | wc -l
for i in 1 2 3; do (echo "job $i" > "job$i.txt") & done
wait
cat job1.txt job2.txt job3.txt
coproc UPPER { tr a-z A-Z; }
echo "coprocess" >&"${UPPER[1]}"
exec {UPPER[1]}>&-
read -r line <&"${UPPER[0]}"
echo "$line"
wait
mkfifo fifo
(echo "through a fifo" > fifo) &
cat fifo
wait
echo done
