/* Allocates 1 MiB blocks until malloc fails (or argv[1] MiB were taken); reports how many.
 * The blocks are kept in a list and summed at the end, so the compiler cannot drop them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct block {
    struct block *next;
    char data[(1 << 20) - sizeof(struct block *)];
};

int main(int argc, char **argv) {
    long want = argc > 1 ? atol(argv[1]) : -1;
    long got = 0;
    struct block *head = NULL;
    while (want < 0 || got < want) {
        struct block *b = malloc(sizeof *b);
        if (!b) break;
        memset(b->data, (int)got, sizeof b->data);
        b->next = head;
        head = b;
        got++;
    }
    unsigned long sum = 0;
    for (struct block *b = head; b; b = b->next) sum += (unsigned char)b->data[got % 1000];
    printf("allocated %ld MiB (checksum %lu)\n", got, sum);
    if (want >= 0 && got < want) {
        fprintf(stderr, "memhog: out of memory after %ld MiB\n", got);
        return 3;
    }
    return 0;
}
