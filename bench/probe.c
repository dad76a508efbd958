/* bench/probe.c: the task every benchmark runs.
 *
 * On start it reads CLOCK_REALTIME, appends one line
 *     <task-id> <seconds>.<nanoseconds>\n
 * to the file named by argv[2] and exits 0. The task id is argv[1], or
 * $CRONWHEEL_TASK_ID when argv[1] is missing, empty or "-".
 *
 * The file is opened with O_APPEND and each line is written with a single
 * write(), so concurrent probes never interleave (appends of < PIPE_BUF bytes
 * to a regular file are atomic with respect to each other on Linux).
 *
 * Build: gcc -O2 -static -o probe probe.c
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts); /* first thing: the start instant */

    const char *id = (argc > 1 && argv[1][0] && strcmp(argv[1], "-") != 0)
                         ? argv[1]
                         : getenv("CRONWHEEL_TASK_ID");
    if (!id || !*id)
        id = "?";
    const char *path = argc > 2 ? argv[2] : NULL;
    if (!path) {
        static const char msg[] = "usage: probe <task-id|-> <output-file>\n";
        (void)!write(2, msg, sizeof msg - 1);
        return 2;
    }
    char line[256];
    int n = snprintf(line, sizeof line, "%.200s %lld.%09ld\n", id,
                     (long long)ts.tv_sec, ts.tv_nsec);
    if (n < 0 || n >= (int)sizeof line)
        return 3;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return 4;
    ssize_t w = write(fd, line, (size_t)n);
    close(fd);
    return w == n ? 0 : 5;
}
