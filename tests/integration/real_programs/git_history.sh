# git init/add/commit/gc/clone with a fixed identity and fixed dates, so the
# hashes it prints are the same on every run (test_real_programs.py).
set -eu
export GIT_AUTHOR_NAME=Ada GIT_AUTHOR_EMAIL=ada@example.invalid
export GIT_COMMITTER_NAME=Cy GIT_COMMITTER_EMAIL=cy@example.invalid
export GIT_AUTHOR_DATE=2020-01-01T00:00:00Z GIT_COMMITTER_DATE=2020-01-01T00:00:00Z
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
git init -q -b main repo
cd repo
for i in 1 2 3; do echo "line $i" > "f$i.txt"; done
mkdir sub && echo nested > sub/file
git add .
git commit -q -m first
echo more >> f1.txt
git rm -q f3.txt
git commit -q -am second
git gc -q
git rev-parse HEAD 'HEAD^{tree}' HEAD~1
git count-objects -v | grep -E '^(count|in-pack|packs):'
echo "status: $(git status --porcelain --ignored | wc -l)"
cd ..
git clone -q repo clone
git clone -q --no-local repo clone2
git -C clone rev-parse HEAD 'HEAD^{tree}'
git -C clone2 log --format='%H %T %s'
git -C clone2 fsck --no-progress
echo "clone status: $(git -C clone2 status --porcelain --ignored | wc -l)"
ls -A repo clone
