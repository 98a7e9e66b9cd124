/* Traps: "unreachable" (default), "divzero", "oob" (out-of-bounds memory) or "abort". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    const char *kind = argc > 1 ? argv[1] : "unreachable";
    printf("about to trap: %s\n", kind);
    fflush(stdout);
    if (strcmp(kind, "divzero") == 0) {
        volatile int zero = 0;
        return 10 / zero;
    }
    if (strcmp(kind, "oob") == 0) {
        volatile int *p = (int *)0xfffffff0u;
        return *p;
    }
    if (strcmp(kind, "abort") == 0) abort();
    __builtin_trap();
}
