/* Tries to reach host paths. Each argument is a path to read, or "w:PATH" to create a file
 * (default: /etc/passwd). Prints what it could do on stdout and every refusal on stderr; exits 1
 * if anything was refused, 0 if everything was allowed. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    int refused = 0;
    const char *defaults[] = {"/etc/passwd"};
    const char **paths = argc > 1 ? (const char **)argv + 1 : defaults;
    int n = argc > 1 ? argc - 1 : 1;
    for (int i = 0; i < n; i++) {
        int write = strncmp(paths[i], "w:", 2) == 0;
        const char *path = write ? paths[i] + 2 : paths[i];
        FILE *f = fopen(path, write ? "w" : "r");
        if (!f) {
            fprintf(stderr, "escape: cannot %s %s: %s\n", write ? "create" : "open", path,
                    strerror(errno));
            refused = 1;
            continue;
        }
        if (write) {
            fputs("written from wasm\n", f);
            printf("escape: created %s\n", path);
        } else {
            char line[256] = "";
            if (!fgets(line, sizeof line, f)) line[0] = '\0';
            printf("escape: read %s: %s%s", path, line, strchr(line, '\n') ? "" : "\n");
        }
        fclose(f);
    }
    return refused;
}
