/* Sleeps argv[1] seconds (default 3600) and prints the monotonic clock before and after. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    unsigned seconds = argc > 1 ? (unsigned)atoi(argv[1]) : 3600;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    sleep(seconds);
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("slept %lld ns\n", (long long)(b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec));
    return 0;
}
