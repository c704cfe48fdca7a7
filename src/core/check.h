// Internal invariants (programming errors, never user input): report file:line and abort.
#pragma once

#include <cstdio>
#include <cstdlib>

#define TM_CHECK(cond, msg)                                                                    \
  do {                                                                                         \
    if (!(cond)) {                                                                             \
      std::fprintf(stderr, "tokenmill internal error at %s:%d: %s (%s)\n", __FILE__, __LINE__, \
                   msg, #cond);                                                                \
      std::abort();                                                                            \
    }                                                                                          \
  } while (0)
