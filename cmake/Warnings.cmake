# Warning set shared by every target (see HACKING.md).
add_compile_options(
  -Wall -Wextra -Wpedantic
  -Wshadow -Wconversion -Wsign-conversion
  -Wstrict-prototypes -Wmissing-prototypes -Wold-style-definition
  -Wformat=2 -Wundef -Wpointer-arith -Wcast-qual -Wwrite-strings
  -Wvla -Wimplicit-fallthrough
  -Werror=implicit-function-declaration -Werror=incompatible-pointer-types
  -Werror=return-type
  -fno-common
  $<$<C_COMPILER_ID:GNU>:-Wlogical-op>
  $<$<C_COMPILER_ID:GNU>:-Wduplicated-cond>
  $<$<C_COMPILER_ID:GNU>:-Wduplicated-branches>)
if(CTFLIVE_WERROR)
  add_compile_options(-Werror)
endif()
if(CTFLIVE_SANITIZE)
  add_compile_options(-fsanitize=${CTFLIVE_SANITIZE} -fno-omit-frame-pointer
                      -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${CTFLIVE_SANITIZE})
endif()
