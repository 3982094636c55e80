# storefleet_target_defaults(<target>): warnings for our own code only (generated
# protobuf code and third-party headers are compiled as SYSTEM and stay quiet).
function(storefleet_target_defaults target)
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow
                           -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Wunused
                           -Woverloaded-virtual -Wnull-dereference -Wformat=2
                           # Designated initializers may leave members at their defaults.
                           -Wno-missing-field-initializers)
    if(STOREFLEET_WERROR)
        target_compile_options(${target} PRIVATE -Werror)
    endif()
endfunction()

# storefleet_unit_test(<name> SOURCES ... LIBS ...): a GoogleTest binary labelled "unit".
function(storefleet_add_test name)
    cmake_parse_arguments(T "" "LABEL" "SOURCES;LIBS" ${ARGN})
    if(NOT T_LABEL)
        set(T_LABEL unit)
    endif()
    add_executable(${name} ${T_SOURCES})
    storefleet_target_defaults(${name})
    target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gmock GTest::gtest_main)
    gtest_discover_tests(${name} PROPERTIES LABELS ${T_LABEL} DISCOVERY_TIMEOUT 30)
endfunction()
