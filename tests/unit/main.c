// SPDX-License-Identifier: MIT
// Unit-test runner: every suite registered with TALLY_SUITE(), or those named
// in $TALLY_SUITES (comma-separated).
#include "../host/harness.h"

#include <tally/atomic.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SUITES 64
static struct {
    const char *name;
    suite_fn fn;
} suites[MAX_SUITES];
static unsigned nr_suites;

void harness_register_suite(const char *name, suite_fn fn)
{
    if (nr_suites == MAX_SUITES)
        abort();
    suites[nr_suites].name = name;
    suites[nr_suites].fn = fn;
    nr_suites++;
}

/* $TALLY_SUITES: comma-separated names to run (default all). */
static int suite_selected(const char *name)
{
    const char *sel = getenv("TALLY_SUITES");
    if (!sel || !*sel)
        return 1;
    size_t n = strlen(name);
    for (const char *p = sel; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && !strncmp(p, name, n))
            return 1;
        p += len + (e ? 1 : 0);
    }
    return 0;
}

int main(void)
{
    /* The test binary's "boot": choose the atomics back end before any
     * thread starts, as hyp/ does on the boot CPU. */
    atomics_init();
    SRunner *sr = NULL;
    for (unsigned i = 0; i < nr_suites; i++) {
        if (!suite_selected(suites[i].name))
            continue;
        if (!sr)
            sr = srunner_create(suites[i].fn());
        else
            srunner_add_suite(sr, suites[i].fn());
    }
    if (!sr) {
        fprintf(stderr, "no test suite selected\n");
        return 1;
    }
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
