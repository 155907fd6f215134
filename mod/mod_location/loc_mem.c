/*
 * loc_mem.c — where the location's long-lived objects live: contacts, AOR states and their
 * contact arrays.
 *
 * Why not plain malloc: REGISTERs run on the SIP thread, and malloc gives each thread one
 * arena. Every REGISTER leaves ≈ 10 KB of transaction memory that lives 32 s (Timer J) and a
 * few small objects that live for hours; from one arena they come out interleaved, and when
 * the transactions go, almost every page still holds one live contact, so nothing goes back
 * to the system (measured: 9.4 KB per contact an hour later, against 0.7 KB). Here they are
 * packed by size class into 64 KB blocks of their own.
 *
 * Size classes of 32 bytes up to 1 KB, a free list each; larger objects (a contact with very
 * long strings, an AOR with many contacts) go to malloc. Every object carries its class in
 * a 16-byte header, so loc_mem_free() takes either kind. Freed objects are reused, never
 * returned to the system before loc_mem_destroy(). One mutex: a REGISTER takes it a few
 * times, each for a handful of instructions.
 *
 * Under AddressSanitizer everything goes to malloc, so use-after-free stays detectable.
 */
#include "loc_internal.h"
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define LOC_MEM_HDR 16
#define LOC_MEM_STEP 32
#define LOC_MEM_CLASSES 32 /* up to 32 * 32 = 1024 bytes, header included */
#define LOC_MEM_BLOCK (64 * 1024)
#define LOC_MEM_MALLOC 0xffu

#if defined(__SANITIZE_ADDRESS__)
#define LOC_MEM_PLAIN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LOC_MEM_PLAIN 1
#endif
#endif

typedef struct loc_mem_free_obj {
    struct loc_mem_free_obj *next;
} loc_mem_free_obj_t;

typedef struct loc_mem_block {
    struct loc_mem_block *next;
} loc_mem_block_t;

static struct {
    apr_thread_mutex_t *lock;
    loc_mem_free_obj_t *free[LOC_MEM_CLASSES];
    char *bump[LOC_MEM_CLASSES], *end[LOC_MEM_CLASSES]; /* the class's current block */
    loc_mem_block_t *blocks;                            /* every block, for destroy */
} mem;

apr_status_t loc_mem_init(apr_pool_t *pool)
{
    memset(&mem, 0, sizeof mem);
    return apr_thread_mutex_create(&mem.lock, APR_THREAD_MUTEX_DEFAULT, pool);
}

void loc_mem_destroy(void)
{
    while (mem.blocks) {
        loc_mem_block_t *b = mem.blocks;
        mem.blocks = b->next;
        munmap(b, LOC_MEM_BLOCK);
    }
    memset(mem.free, 0, sizeof mem.free);
    memset(mem.bump, 0, sizeof mem.bump);
    memset(mem.end, 0, sizeof mem.end);
}

static void *plain_alloc(apr_size_t size)
{
    unsigned char *p = malloc(LOC_MEM_HDR + size);
    if (!p)
        aorta_pool_abort(APR_ENOMEM); /* says so on stderr and aborts, as for pools */
    p[0] = LOC_MEM_MALLOC;
    return p + LOC_MEM_HDR;
}

void *loc_mem_alloc(apr_size_t size)
{
#ifdef LOC_MEM_PLAIN
    return plain_alloc(size);
#else
    apr_size_t need = LOC_MEM_HDR + size;
    unsigned cls = (unsigned)((need + LOC_MEM_STEP - 1) / LOC_MEM_STEP) - 1;
    if (!mem.lock || cls >= LOC_MEM_CLASSES)
        return plain_alloc(size);
    apr_size_t csize = (apr_size_t)(cls + 1) * LOC_MEM_STEP;
    unsigned char *p;
    apr_thread_mutex_lock(mem.lock);
    if (mem.free[cls]) {
        p = (unsigned char *)mem.free[cls];
        mem.free[cls] = mem.free[cls]->next;
    } else {
        if (!mem.bump[cls] || mem.bump[cls] + csize > mem.end[cls]) {
            loc_mem_block_t *b = mmap(NULL, LOC_MEM_BLOCK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (b == MAP_FAILED)
                aorta_pool_abort(APR_ENOMEM);
            b->next = mem.blocks;
            mem.blocks = b;
            /* the block's first bytes link it; objects start at the next class boundary */
            mem.bump[cls] = (char *)b + LOC_MEM_STEP;
            mem.end[cls] = (char *)b + LOC_MEM_BLOCK;
        }
        p = (unsigned char *)mem.bump[cls];
        mem.bump[cls] += csize;
    }
    apr_thread_mutex_unlock(mem.lock);
    p[0] = (unsigned char)cls;
    return p + LOC_MEM_HDR;
#endif
}

void *loc_mem_calloc(apr_size_t size)
{
    void *p = loc_mem_alloc(size);
    memset(p, 0, size);
    return p;
}

char *loc_mem_strdup(const char *s)
{
    apr_size_t n = strlen(s) + 1;
    char *d = loc_mem_alloc(n);
    memcpy(d, s, n);
    return d;
}

void loc_mem_free(void *ptr)
{
    if (!ptr)
        return;
    unsigned char *p = (unsigned char *)ptr - LOC_MEM_HDR;
    if (p[0] == LOC_MEM_MALLOC) {
        free(p);
        return;
    }
    unsigned cls = p[0];
    apr_thread_mutex_lock(mem.lock);
    loc_mem_free_obj_t *o = (loc_mem_free_obj_t *)p;
    o->next = mem.free[cls];
    mem.free[cls] = o;
    apr_thread_mutex_unlock(mem.lock);
}
