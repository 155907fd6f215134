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
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

/* The plain fixture: APR up and a fresh pool per test (each test runs in a forked child). */
static apr_pool_t *pool __attribute__((unused));

static inline void pool_setup(void)
{
    apr_initialize();
    apr_pool_create(&pool, NULL);
}

static inline void pool_teardown(void)
{
    apr_pool_destroy(pool);
    apr_terminate();
}

/*
 * Make a fresh temporary directory; returns its path (static storage per call site is fine).
 * Inside run_suite() it lies under the run's own directory, which goes when every test passed
 * (tests run in forked children, so only a directory made by the parent can be cleaned up).
 */
static inline char *tmpdir_make(void)
{
    const char *base = getenv("AORTA_UNIT_TMP");
    size_t n = (base ? strlen(base) : 4) + 32;
    char *t = malloc(n);
    ck_assert_ptr_nonnull(t);
    snprintf(t, n, "%s/aorta-unit-XXXXXX", base ? base : "/tmp");
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

static inline int tmpdir_remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

/*
 * Run one suite and return the number of failures (Check prints the summary line). The
 * directories its tests made go away when all passed; a failure keeps them for a look.
 */
static inline int run_suite(Suite *s)
{
    char base[] = "/tmp/aorta-unit-run-XXXXXX";
    int have_base = mkdtemp(base) != NULL;
    if (have_base)
        setenv("AORTA_UNIT_TMP", base, 1);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (have_base && !failed)
        nftw(base, tmpdir_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    else if (have_base)
        fprintf(stderr, "kept for a look: %s\n", base);
    return failed;
}

#endif
