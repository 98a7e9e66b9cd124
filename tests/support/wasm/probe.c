/* Prints what a module can observe of its host: clocks, randomness, an input's stat, argv and
 * the environment. Two deterministic runs must print the same. Usage: probe [FILE_TO_STAT]. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    struct timespec rt, m1, m2;
    clock_gettime(CLOCK_REALTIME, &rt);
    clock_gettime(CLOCK_MONOTONIC, &m1);
    clock_gettime(CLOCK_MONOTONIC, &m2);
    printf("realtime %lld.%09ld\n", (long long)rt.tv_sec, rt.tv_nsec);
    printf("monotonic %lld.%09ld -> %lld.%09ld\n", (long long)m1.tv_sec, m1.tv_nsec,
           (long long)m2.tv_sec, m2.tv_nsec);
    printf("time %lld\n", (long long)time(NULL));
    unsigned char b[16];
    if (getentropy(b, sizeof b) == 0) {
        printf("random ");
        for (int i = 0; i < 16; i++) printf("%02x", b[i]);
        printf("\n");
    }
    if (argc > 1) {
        struct stat st;
        if (stat(argv[1], &st) == 0)
            printf("stat %s size %lld mtime %lld ino %llu\n", argv[1], (long long)st.st_size,
                   (long long)st.st_mtime, (unsigned long long)st.st_ino);
        else
            printf("stat %s failed\n", argv[1]);
    }
    for (int i = 0; i < argc; i++) printf("argv[%d]=%s\n", i, argv[i]);
    const char *greeting = getenv("GREETING");
    printf("GREETING=%s\n", greeting ? greeting : "(unset)");
    const char *code = getenv("EXIT_CODE");
    return code ? atoi(code) : 0;
}
