/* plugin_template.c - `plughost new`: write a plugin folder from the
 * templates of plugin_template_text.c. */
#include "plugin_template.h"

#include "plugin_template_text.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NAME_MAX_LEN 64
#define PLACEHOLDER "@NAME@"

int ph_plugin_template_name_ok(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > NAME_MAX_LEN || name[0] < 'a' || name[0] > 'z')
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}

char *ph_plugin_template_expand(const char *text, const char *name)
{
    size_t plen = strlen(PLACEHOLDER), nlen = strlen(name), count = 0;
    for (const char *p = strstr(text, PLACEHOLDER); p; p = strstr(p + plen, PLACEHOLDER))
        count++;
    size_t size = strlen(text) - count * plen + count * nlen + 1;
    char *out = malloc(size);
    if (!out)
        return NULL;
    char *o = out;
    for (const char *p = text;;) {
        const char *hit = strstr(p, PLACEHOLDER);
        size_t n = hit ? (size_t)(hit - p) : strlen(p);
        memcpy(o, p, n);
        o += n;
        if (!hit)
            break;
        memcpy(o, name, nlen);
        o += nlen;
        p = hit + plen;
    }
    *o = '\0';
    return out;
}

/* One file of the folder: its name (with @NAME@) and template text. */
typedef struct template_file {
    const char *name;
    const char *text;
} template_file;

/* Write `text` expanded for `name` to a new file `path` (refusing an
 * existing one). Returns 0, or -1 with the reason printed. */
static int write_file(const char *path, const char *text, const char *name)
{
    char *body = ph_plugin_template_expand(text, name);
    if (!body) {
        fprintf(stderr, "plughost new: out of memory\n");
        return -1;
    }
    int rc = -1;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "plughost new: %s: %s\n", path, strerror(errno));
    } else {
        size_t len = strlen(body), done = 0;
        while (done < len) {
            ssize_t n = write(fd, body + done, len - done);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            done += (size_t)n;
        }
        if (done == len && close(fd) == 0)
            rc = 0;
        else
            fprintf(stderr, "plughost new: %s: cannot write: %s\n", path, strerror(errno));
        if (done != len)
            close(fd);
    }
    free(body);
    return rc;
}

/* Write the folder `dir` for plugin `name`. Returns 0, or -1 after
 * printing why and removing whatever it had written. */
static int write_folder(const char *dir, const char *name, int async)
{
    const template_file files[] = {
        {"@NAME@.c", async ? ph_template_async_c : ph_template_sync_c},
        {"test_@NAME@.c", async ? ph_template_test_async_c : ph_template_test_sync_c},
        {"CMakeLists.txt", ph_template_cmakelists},
        {"route.ini", async ? ph_template_route_async_ini : ph_template_route_sync_ini},
    };
    const size_t nfiles = sizeof files / sizeof files[0];
    if (mkdir(dir, 0755) < 0) {
        fprintf(stderr, "plughost new: cannot create %s: %s\n", dir, strerror(errno));
        return -1;
    }
    char paths[sizeof files / sizeof files[0]][4096];
    size_t written = 0;
    for (; written < nfiles; written++) {
        char *base = ph_plugin_template_expand(files[written].name, name);
        int n = base ? snprintf(paths[written], sizeof paths[written], "%s/%s", dir, base) : -1;
        free(base);
        if (n < 0 || (size_t)n >= sizeof paths[written]) {
            fprintf(stderr, "plughost new: %s: path too long or out of memory\n", dir);
            break;
        }
        if (write_file(paths[written], files[written].text, name) < 0)
            break;
    }
    if (written == nfiles)
        return 0;
    for (size_t i = 0; i < written; i++)
        unlink(paths[i]);
    rmdir(dir);
    return -1;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: plughost new NAME [--async] [--dir DIR]\n"
                 "  writes DIR/NAME/ (default ./NAME/): NAME.c (a sync plugin, or async with\n"
                 "  --async), test_NAME.c (its cmocka test through the SDK's mock host),\n"
                 "  CMakeLists.txt (builds both against the installed SDK) and route.ini\n");
}

int ph_plugin_template_main(int argc, char **argv)
{
    const char *name = NULL, *parent = ".";
    int async = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--async") == 0) {
            async = 1;
        } else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            parent = argv[++i];
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] != '-' && !name) {
            name = argv[i];
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (!name) {
        usage(stderr);
        return 2;
    }
    if (!ph_plugin_template_name_ok(name)) {
        fprintf(stderr, "plughost new: '%s' is not a plugin name: use a-z, 0-9 and _, starting with a "
                        "letter, at most %d characters (it names the .so, its symbols and its route)\n",
                name, NAME_MAX_LEN);
        return 1;
    }
    char dir[4096];
    int n = strcmp(parent, ".") == 0 ? snprintf(dir, sizeof dir, "%s", name)
                                     : snprintf(dir, sizeof dir, "%s/%s", parent, name);
    if (n < 0 || (size_t)n >= sizeof dir) {
        fprintf(stderr, "plughost new: %s: path too long\n", parent);
        return 1;
    }
    if (write_folder(dir, name, async) < 0)
        return 1;
    printf("plughost new: wrote %s/ (%s plugin): %s.c, test_%s.c, CMakeLists.txt, route.ini\n"
           "build and test it against the installed SDK:\n"
           "  cmake -S %s -B %s/build && cmake --build %s/build && ctest --test-dir %s/build\n",
           dir, async ? "async" : "sync", name, name, dir, dir, dir, dir);
    return 0;
}
