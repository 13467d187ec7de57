# gen-confab-conf.cmake - writes confab.conf(5): the prose of confab.conf.5.in around the key
# reference that `confabd --print-config=man` generates from the configuration table, so the
# page names every key with its real default, bounds and reloadability.
# cmake -DCONFABD=path -DIN=confab.conf.5.in -DOUT=confab.conf.5 -DVERSION=x.y.z -P this
cmake_minimum_required(VERSION 3.25)
execute_process(COMMAND "${CONFABD}" --print-config=man
  OUTPUT_VARIABLE KEYS RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${CONFABD} --print-config=man failed: ${rc}")
endif()
file(READ "${IN}" page)
string(REPLACE "@KEYS@\n" "${KEYS}" page "${page}")
string(REPLACE "@VERSION@" "${VERSION}" page "${page}")
file(WRITE "${OUT}.tmp" "${page}")
file(RENAME "${OUT}.tmp" "${OUT}")
