/* Time sources. Monotonic for intervals and timeouts, CLOCK_BOOTTIME for leases (it keeps
 * counting through suspend and SIGSTOP), wall clock for timestamps. Tests can shift the wall
 * clock through FAILOVERD_TEST_WALL_OFFSET_FILE (a file holding milliseconds), never the
 * machine's clock. */
#ifndef FO_CORE_CLOCK_H
#define FO_CORE_CLOCK_H

#include <stdint.h>

int64_t fo_clock_mono_ms(void);
int64_t fo_clock_boot_ms(void);
int64_t fo_clock_wall_ms(void);

#endif
