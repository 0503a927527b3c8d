/* Time sources, with a test hook that shifts the wall clock only. */
#include "core/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int64_t fo__ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t fo_clock_mono_ms(void)
{
    return fo__ms(CLOCK_MONOTONIC);
}

int64_t fo_clock_boot_ms(void)
{
    return fo__ms(CLOCK_BOOTTIME);
}

/* The offset file is re-read at most every 200 ms of monotonic time. */
static int64_t fo__wall_offset(void)
{
    static const char *path;
    static int init;
    static int64_t offset, read_at = -1000;
    if (!init) {
        path = getenv("FAILOVERD_TEST_WALL_OFFSET_FILE");
        init = 1;
    }
    if (!path)
        return 0;
    int64_t now = fo__ms(CLOCK_MONOTONIC);
    if (now - read_at >= 200) {
        FILE *f = fopen(path, "r");
        long long v = 0;
        if (f) {
            if (fscanf(f, "%lld", &v) == 1)
                offset = v;
            fclose(f);
        }
        read_at = now;
    }
    return offset;
}

int64_t fo_clock_wall_ms(void)
{
    return fo__ms(CLOCK_REALTIME) + fo__wall_offset();
}
