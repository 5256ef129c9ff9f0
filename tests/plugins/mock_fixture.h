/* mock_fixture.h - cmocka setup/teardown shared by the plugin tests: every
 * test starts from a reset mock host and fails if the plugin misused the
 * host API (complete() twice, a builder after the response was sent...). */
#ifndef PH_TEST_MOCK_FIXTURE_H
#define PH_TEST_MOCK_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "ph_mock_host.h"

/* Setup: a fresh mock (clock 0, no timers, empty log). */
static inline int mock_setup(void **state)
{
    (void)state;
    ph_mock_reset();
    return 0;
}

/* Teardown: fail the test when a misuse was recorded, then reset. */
static inline int mock_teardown(void **state)
{
    (void)state;
    size_t n = ph_mock_misuse_count();
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "unexpected misuse: %s\n", ph_mock_misuse(i));
    ph_mock_reset();
    return n == 0 ? 0 : -1;
}

#define MOCK_TEST(fn) cmocka_unit_test_setup_teardown(fn, mock_setup, mock_teardown)

#endif
