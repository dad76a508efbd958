/* bench/floor.c: the spawn floor, what the machine itself can do.
 *
 * Usage: floor <N> <D> <output-file> [probe-path]
 *
 * At each of the next D whole seconds of CLOCK_REALTIME it posix_spawn()s N
 * probes (`probe t<i> <output-file>`, ids t0000.. as in the cronwheel task
 * files), split across two threads: thread 0 spawns ids 0, 2, 4, ..., thread 1
 * ids 1, 3, 5, ... (N/2 each; the first gets the odd one out). Each thread
 * sleeps with clock_nanosleep(TIMER_ABSTIME) to the whole second, spawns its
 * share, then waitpid()s each of its children before sleeping to the next
 * second. A thread that falls behind does not skip a second: the sleep to a
 * past instant returns at once. It prints `first <seconds>` (the first whole
 * second it fires at) on stdout before it starts, and, when it ends,
 * `cpu_us <us> spawns <n> children_us <us>`: its own CPU time (both threads) and
 * that of its children (the probes).
 *
 * Build: gcc -O2 -pthread -o floor floor.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static int n_tasks, duration;
static time_t first_second;
static const char *outfile, *probe;

struct share {
    int first; /* 0 or 1: ids first, first + 2, ... */
};

static void *spawner(void *arg) {
    const struct share *sh = arg;
    int count = 0;
    for (int i = sh->first; i < n_tasks; i += 2)
        count++;
    pid_t *pids = calloc((size_t)(count ? count : 1), sizeof *pids);
    char (*ids)[16] = calloc((size_t)(count ? count : 1), sizeof *ids);
    if (!pids || !ids) {
        perror("calloc");
        exit(1);
    }
    for (int k = 0, i = sh->first; i < n_tasks; i += 2, k++)
        snprintf(ids[k], sizeof ids[k], "t%04d", i);

    for (int s = 0; s < duration; s++) {
        struct timespec at = {.tv_sec = first_second + s, .tv_nsec = 0};
        int rc;
        while ((rc = clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &at, NULL)) == EINTR)
            ;
        for (int k = 0; k < count; k++) {
            char *argv[] = {(char *)probe, ids[k], (char *)outfile, NULL};
            rc = posix_spawn(&pids[k], probe, NULL, NULL, argv, environ);
            if (rc != 0) {
                fprintf(stderr, "floor: posix_spawn: %s\n", strerror(rc));
                pids[k] = -1;
            }
        }
        for (int k = 0; k < count; k++) {
            if (pids[k] <= 0)
                continue;
            int status;
            while (waitpid(pids[k], &status, 0) < 0 && errno == EINTR)
                ;
        }
    }
    free(pids);
    free(ids);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: floor <N> <D> <output-file> [probe-path]\n");
        return 2;
    }
    n_tasks = atoi(argv[1]);
    duration = atoi(argv[2]);
    outfile = argv[3];
    if (argc > 4) {
        probe = argv[4];
    } else {
        /* default: "probe" beside this binary */
        static char buf[4096];
        ssize_t len = readlink("/proc/self/exe", buf, sizeof buf - 16);
        if (len < 0) {
            perror("readlink");
            return 1;
        }
        buf[len] = 0;
        char *slash = strrchr(buf, '/');
        strcpy(slash ? slash + 1 : buf, "probe");
        probe = buf;
    }
    if (n_tasks < 1 || duration < 1) {
        fprintf(stderr, "floor: N and D must be positive\n");
        return 2;
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    first_second = now.tv_sec + 1;
    /* run.sh reads this to know which seconds the floor fires at */
    printf("first %lld\n", (long long)first_second);
    fflush(stdout);

    struct share shares[2] = {{0}, {1}};
    pthread_t th[2];
    for (int t = 0; t < 2; t++) {
        int rc = pthread_create(&th[t], NULL, spawner, &shares[t]);
        if (rc) {
            fprintf(stderr, "floor: pthread_create: %s\n", strerror(rc));
            return 1;
        }
    }
    for (int t = 0; t < 2; t++)
        pthread_join(th[t], NULL);
    /* The floor's own CPU (both threads, not the probes), for the overhead comparison. */
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    long long cpu_us = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000LL +
                       ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
    struct rusage rc;
    getrusage(RUSAGE_CHILDREN, &rc);
    long long child_us = (rc.ru_utime.tv_sec + rc.ru_stime.tv_sec) * 1000000LL +
                         rc.ru_utime.tv_usec + rc.ru_stime.tv_usec;
    printf("cpu_us %lld spawns %lld children_us %lld\n", cpu_us,
           (long long)n_tasks * duration, child_us);
    return 0;
}
