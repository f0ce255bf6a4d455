# Makes fdtrack(1) with help2man from `fdtrack --help`, plus a COMMANDS section holding each
# command's own --help (the options users look up), then gzips it as Debian ships man pages.
# Run by packaging/CMakeLists.txt: cmake -DCLI=... -DHELP2MAN=... -DVERSION=... -DOUTPUT=... -P this.
set(commands run dump report diff metrics exporter top)
get_filename_component(work ${OUTPUT} DIRECTORY)
set(include_file ${work}/fdtrack.h2m)

set(section "[COMMANDS]\n")
foreach(command ${commands})
  execute_process(COMMAND ${CLI} ${command} --help OUTPUT_VARIABLE help RESULT_VARIABLE status)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "${CLI} ${command} --help failed (${status})")
  endif()
  # roff: a backslash is written \e, and a line may not start with a dot or a quote.
  string(REPLACE "\\" "\\e" help "${help}")
  string(REGEX REPLACE "(^|\n)([.'])" "\\1\\\\&\\2" help "${help}")
  string(APPEND section ".SS \"fdtrack ${command}\"\n.nf\n${help}.fi\n")
endforeach()
string(APPEND section "[SEE ALSO]\nThe user contract (options, environment variables, the JSON report schema): docs/spec.md in the source tree.\n")
file(WRITE ${include_file} "${section}")

string(REGEX REPLACE "\\.gz$" "" page ${OUTPUT})
execute_process(
  COMMAND ${HELP2MAN} --no-info --no-discard-stderr --version-string=${VERSION}
          --name=find\ the\ lines\ of\ code\ that\ leak\ file\ descriptors
          --include=${include_file} --output=${page} ${CLI}
  RESULT_VARIABLE status ERROR_VARIABLE errors)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "help2man failed (${status}): ${errors}")
endif()
# -n: no name or time stamp inside, so the same page makes the same bytes.
execute_process(COMMAND gzip -9nf ${page} RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "gzip ${page} failed")
endif()
