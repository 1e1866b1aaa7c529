# One place for the warning flags every target is built with.
function(regfs_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes
    -Wno-unused-parameter -Wvla -Wpointer-arith)
  if(REGFS_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
