/* The trivial job: one line on stdout. */
#include <stdio.h>

int main(void) {
    puts("hello from wasm");
    return 0;
}
