# One data-parallel training scenario through the CLI under mpirun (ctest runs this script).
#
#   -DDESCENT=<descent>  -DMPIEXEC=<mpiexec>  -DNP=<ranks>  -DWORK=<scratch dir>
#   -DMODE=exact|fast|failure|crash  -DARGS=<train options, |-separated>
#   -DALL_WORK=ON   every rank must compute some rows (exact)
#   -DUNEQUAL=ON    the ranks' row counts must not all be equal (exact)
#
# exact: the model mpirun -np NP saves is byte for byte the single process's, and the rows
# the ranks report add up to the single process's. fast: the run finishes, every rank
# computes, the rows add up. failure: the last rank gets a data file that does not exist;
# the job must end (not hang) with a non-zero status and that rank's error. crash: the last
# rank is killed mid-training; the job must end likewise.

set(mpirun ${MPIEXEC} --oversubscribe --allow-run-as-root)
string(REPLACE "|" ";" ARGS "${ARGS}")
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})

function(run_or_fail out_var)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err
                  TIMEOUT 240)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(${out_var} "${out}" PARENT_SCOPE)
endfunction()

# The JSON list `key` of `json` as a CMake list.
function(json_list out_var json key)
  string(JSON n LENGTH "${json}" ${key})
  set(values "")
  math(EXPR last "${n} - 1")
  foreach(i RANGE ${last})
    string(JSON v GET "${json}" ${key} ${i})
    list(APPEND values ${v})
  endforeach()
  set(${out_var} "${values}" PARENT_SCOPE)
endfunction()

# A two-rank job whose rank 1 runs `rank1_command` (the train options follow it) while rank 0
# trains normally and soon waits for it in a collective: the job must end, not hang, with a
# non-zero status and stderr matching `expect`.
function(expect_job_to_end what expect)
  execute_process(
    COMMAND ${mpirun} -np 1 ${DESCENT} train ${ARGS} --quiet --distributed exact
            : -np 1 ${ARGN} --quiet --distributed exact
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 120)
  if(rc EQUAL 0 OR rc MATCHES "timeout")
    message(FATAL_ERROR "a rank that ${what} must end the job (status: ${rc})\n${err}")
  endif()
  if(NOT err MATCHES "${expect}")
    message(FATAL_ERROR "stderr should match '${expect}':\n${err}")
  endif()
  message(STATUS "a rank that ${what}: the job ended with status ${rc}")
endfunction()

if(MODE STREQUAL "failure")
  # Rank 1's --data names a file that does not exist.
  set(bad_args ${ARGS})
  list(FIND bad_args --data at)
  math(EXPR at "${at} + 1")
  list(REMOVE_AT bad_args ${at})
  list(INSERT bad_args ${at} ${WORK}/missing.csv)
  expect_job_to_end("cannot read its data"
                    "descent: error: rank 1 of 2: data file \"[^\"]*missing.csv\" does not exist"
                    ${DESCENT} train ${bad_args})
  return()
endif()

if(MODE STREQUAL "crash")
  # Rank 1 dies (SIGKILL) at its fifth step, in the middle of training.
  expect_job_to_end("dies" "rank 1" env DESCENT_TEST_CRASH_AT_STEP=5 ${DESCENT} train ${ARGS})
  return()
endif()

run_or_fail(out ${mpirun} -np ${NP} ${DESCENT} train ${ARGS} --quiet --json
            --distributed ${MODE} --save ${WORK}/ranks.model)
string(JSON ranks GET "${out}" ranks)
if(NOT ranks EQUAL NP)
  message(FATAL_ERROR "the run reports ${ranks} ranks, not ${NP}:\n${out}")
endif()
json_list(rank_rows "${out}" rank_rows)
list(LENGTH rank_rows n)
if(NOT n EQUAL NP)
  message(FATAL_ERROR "rank_rows has ${n} entries for ${NP} ranks: ${rank_rows}")
endif()
set(sum 0)
set(distinct "")
foreach(r IN LISTS rank_rows)
  math(EXPR sum "${sum} + ${r}")
  list(APPEND distinct ${r})
  if((ALL_WORK OR MODE STREQUAL "fast") AND r EQUAL 0)
    message(FATAL_ERROR "a rank computed no rows: ${rank_rows}")
  endif()
endforeach()
list(REMOVE_DUPLICATES distinct)
list(LENGTH distinct distinct_count)
if(UNEQUAL AND distinct_count EQUAL 1)
  message(FATAL_ERROR "the ranks' parts should be unequal here: ${rank_rows}")
endif()

run_or_fail(single ${DESCENT} train ${ARGS} --quiet --json --save ${WORK}/single.model)
string(JSON single_rows GET "${single}" rows_computed)
if(NOT sum EQUAL single_rows)
  message(FATAL_ERROR "the ranks computed ${sum} rows (${rank_rows}), one process ${single_rows}")
endif()
if(MODE STREQUAL "exact")
  file(SHA256 ${WORK}/single.model one)
  file(SHA256 ${WORK}/ranks.model many)
  if(NOT one STREQUAL many)
    message(FATAL_ERROR "mpirun -np ${NP} --distributed exact saved another model than one "
                        "process (${many} vs ${one})")
  endif()
  message(STATUS "np ${NP}: the same model bytes as one process; rows per rank ${rank_rows}")
else()
  message(STATUS "np ${NP} fast: rows per rank ${rank_rows}")
endif()
