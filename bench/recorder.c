/* The benchmark's app: append the wall-clock time at which it was exec'd (nanoseconds since
 * the epoch) as one line to the file named by argv[1], in a single O_APPEND write. Built by
 * bench/run.sh with `cc -O2 -static` (or dynamically when static libc is missing). */
#include <fcntl.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    struct timespec ts;
    char line[32];
    int fd, n;
    if (argc < 2 || clock_gettime(CLOCK_REALTIME, &ts) != 0) return 2;
    n = snprintf(line, sizeof line, "%lld\n", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
    fd = open(argv[1], O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd < 0 || write(fd, line, (size_t)n) != n) return 3;
    return close(fd) == 0 ? 0 : 3;
}
