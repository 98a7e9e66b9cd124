/* Word count over a directory tree: one line "relative/path words" per regular file, then
 * "total N". Files are visited in sorted name order (readdir order is the host's, so a program
 * that wants the same output everywhere sorts). Usage: wordcount [INPUT_DIR] [OUTPUT_FILE]. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static FILE *out;
static unsigned long long total_words, total_files;

static unsigned long long count_words(FILE *f) {
    unsigned long long words = 0;
    int c, in_word = 0;
    while ((c = fgetc(f)) != EOF) {
        if (isspace(c)) {
            in_word = 0;
        } else if (!in_word) {
            in_word = 1;
            words++;
        }
    }
    return words;
}

static int walk(const char *root, const char *rel) {
    char path[4096];
    snprintf(path, sizeof path, "%s%s%s", root, *rel ? "/" : "", rel);
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "wordcount: cannot stat %s: %s\n", path, strerror(errno));
        return 1;
    }
    if (S_ISREG(st.st_mode)) {
        FILE *f = fopen(path, "r");
        if (!f) {
            fprintf(stderr, "wordcount: cannot open %s: %s\n", path, strerror(errno));
            return 1;
        }
        unsigned long long words = count_words(f);
        fclose(f);
        fprintf(out, "%s %llu\n", *rel ? rel : ".", words);
        total_words += words;
        total_files++;
        return 0;
    }
    if (!S_ISDIR(st.st_mode)) return 0;
    struct dirent **names;
    int n = scandir(path, &names, NULL, alphasort);
    if (n < 0) {
        fprintf(stderr, "wordcount: cannot list %s: %s\n", path, strerror(errno));
        return 1;
    }
    int failed = 0;
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        if (strcmp(name, ".") != 0 && strcmp(name, "..") != 0) {
            char child[4096];
            snprintf(child, sizeof child, "%s%s%s", rel, *rel ? "/" : "", name);
            failed |= walk(root, child);
        }
        free(names[i]);
    }
    free(names);
    return failed;
}

int main(int argc, char **argv) {
    const char *root = argc > 1 ? argv[1] : "/inputs";
    const char *target = argc > 2 ? argv[2] : "/outputs/counts.txt";
    out = fopen(target, "w");
    if (!out) {
        fprintf(stderr, "wordcount: cannot write %s: %s\n", target, strerror(errno));
        return 2;
    }
    int failed = walk(root, "");
    fprintf(out, "total %llu\n", total_words);
    fclose(out);
    printf("%llu files, %llu words\n", total_files, total_words);
    return failed;
}
