/* Line filter: copy the lines of stdin-like input files that contain PATTERN.
 * Usage: linefilter PATTERN [INPUT_FILE...]; with no files, reads /inputs/data. Matching lines
 * go to stdout and to /outputs/matches.txt. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: linefilter PATTERN [FILE...]\n");
        return 2;
    }
    FILE *out = fopen("/outputs/matches.txt", "w");
    if (!out) {
        fprintf(stderr, "linefilter: cannot write /outputs/matches.txt: %s\n", strerror(errno));
        return 2;
    }
    const char *fallback[] = {"/inputs/data"};
    const char **files = argc > 2 ? (const char **)argv + 2 : fallback;
    int nfiles = argc > 2 ? argc - 2 : 1;
    char line[65536];
    for (int i = 0; i < nfiles; i++) {
        FILE *f = fopen(files[i], "r");
        if (!f) {
            fprintf(stderr, "linefilter: cannot open %s: %s\n", files[i], strerror(errno));
            return 1;
        }
        while (fgets(line, sizeof line, f)) {
            if (strstr(line, argv[1])) {
                fputs(line, stdout);
                fputs(line, out);
            }
        }
        fclose(f);
    }
    fclose(out);
    return 0;
}
