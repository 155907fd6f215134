/*
 * check_common.h — helpers shared by the Check programs (the core's and each module's under
 * tests/unit/<module>/): a temporary directory with files written from strings, and the
 * suite runner every main() ends with (tests/run.sh parses the summary line it prints).
 */
#ifndef CHECK_COMMON_H
#define CHECK_COMMON_H

#include <aorta/aorta.h>
#include <apr_strings.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Make a fresh temporary directory; returns its path (static storage per call site is fine). */
static inline char *tmpdir_make(void)
{
    char *t = strdup("/tmp/aorta-unit-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(t));
    return t;
}

/* Write @p text to dir/rel, creating parent directories. */
static inline void tmpfile_write(const char *dir, const char *rel, const char *text)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    for (char *p = path + strlen(dir) + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        mkdir(path, 0755);
        *p = '/';
    }
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* Run one suite and return the number of failures (Check prints the summary line). */
static inline int run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed;
}

#endif
