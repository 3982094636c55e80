# The store charts' catalogue (infra/charts/catalogue.py): every version of each store chart,
# the released ones from charts/releases/*.tgz and the working tree's as the engines'
# defaults, unpacked to ${STOREFLEET_CHART_CATALOGUE}/<chart>/<version>/ with an index.json the
# provisioner and intake read (STOREFLEET_CHART_CATALOGUE). Part of `make build`; a chart
# changed without a version bump fails the build with what to do.
find_package(Python3 REQUIRED COMPONENTS Interpreter)
set(STOREFLEET_CHART_CATALOGUE ${CMAKE_BINARY_DIR}/chart-catalogue)
file(GLOB_RECURSE STOREFLEET_CHART_INPUTS CONFIGURE_DEPENDS
    ${PROJECT_SOURCE_DIR}/charts/medusa-store/*
    ${PROJECT_SOURCE_DIR}/charts/woocommerce-store/*
    ${PROJECT_SOURCE_DIR}/charts/releases/*)
add_custom_command(
    OUTPUT ${STOREFLEET_CHART_CATALOGUE}/index.json
    COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/infra/charts/catalogue.py build
            --charts ${PROJECT_SOURCE_DIR}/charts --out ${STOREFLEET_CHART_CATALOGUE}
    DEPENDS ${STOREFLEET_CHART_INPUTS} ${PROJECT_SOURCE_DIR}/infra/charts/catalogue.py
    COMMENT "Store chart catalogue"
    VERBATIM)
add_custom_target(chart_catalogue ALL DEPENDS ${STOREFLEET_CHART_CATALOGUE}/index.json)
