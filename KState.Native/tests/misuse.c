/* Every function of kstate.h called in states where it must fail: before kho_init, after kho_exit, with NULL,
 * stale and made-up arguments. Each must return its error (0/NULL/-errno), never crash the process (issue 18,
 * item 1: no C# exception crosses the boundary). Prints one line per failed check; exits with the number of
 * failures.  Usage: misuse REGION */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <kstate.h>

static int failures, checks;
#define CHECK(cond) do { checks++; if (!(cond)) { failures++; \
    printf("FAIL %s:%d: %s (last error: %s)\n", __FILE__, __LINE__, #cond, kstate_last_error()); } } while (0)
#define EQ(a, b) CHECK((a) == (b))

struct one { int i; };
static const struct kstate_description one_state = {
    .name = "misuse/one", .id = 0x6001, .version_id = 1, .min_version_id = 1,
    .fields = (const struct kstate_field[]) { KSTATE_BASE_TYPE(i, struct one, int), KSTATE_END_OF_LIST() },
};

static void *stale_area;                                /* a kho_vmalloc area of the last generation */

/* The in-place functions with no region booted (before kho_init, or after kho_exit with stale pointers). */
static void unbooted_in_place(void *stale_virt)
{
    struct kho_vmalloc vm = { 0 };

    EQ(kho_preserve_pages(stale_virt, 1), -EINVAL);
    EQ(kho_unpreserve_pages(stale_virt, 1), -EINVAL);
    CHECK(kho_restore_pages(4096, 1) == NULL);
    errno = 0;
    CHECK(kho_alloc_preserve(4096) == NULL);
    EQ(errno, EINVAL);
    kho_unpreserve_free(stale_virt);                        /* void: sets errno, must merely not crash */
    errno = 0;
    kho_restore_free(stale_virt);
    EQ(errno, EINVAL);
    CHECK(kho_vmalloc(4096) == NULL);
    kho_vfree(stale_area);
    EQ(kho_preserve_vmalloc(stale_area, &vm), -EINVAL);
    kho_unpreserve_vmalloc(&vm);
    CHECK(kho_restore_vmalloc(&vm) == NULL);
}

/* Every function with no region booted: nothing to act on, so each fails cleanly. */
static void unbooted(struct folio *stale, phys_addr_t stale_phys, void *stale_virt, struct kstate_session *stale_session)
{
    static struct one o;
    const void *blob = NULL;
    size_t size = 0;
    struct kstate_session *s = NULL;
    struct kho_boot_status status;

    EQ(kho_exit(), -EINVAL);
    CHECK(!is_kho_boot());
    EQ(kho_init_fd(-1, 4 << 20), -EINVAL);                 /* not a file descriptor */
    EQ(kho_init_fd(INT_MAX, 4 << 20), -EINVAL);            /* not an open one */
    EQ(kho_init_wait(NULL, 4 << 20, 0), -EINVAL);          /* no path */
    CHECK(kho_folio_alloc(0) == NULL);
    kho_folio_put(stale);                                   /* void: must merely not crash */
    errno = 0;
    CHECK(kho_folio_address(stale) == NULL);
    EQ(errno, EINVAL);                                      /* pointer functions set errno */
    EQ(kho_folio_order(stale), kho_folio_order(stale));     /* arithmetic on the handle, no region needed */
    EQ(kho_folio_phys(stale), stale_phys);
    CHECK(kho_phys_to_virt(stale_phys) == NULL);
    EQ(kho_virt_to_phys(stale_virt), 0);
    EQ(kho_preserve_folio(stale), -EINVAL);
    EQ(kho_unpreserve_folio(stale), -EINVAL);
    EQ(kho_preserve_phys(stale_phys, 4096), -EINVAL);
    EQ(kho_unpreserve_phys(stale_phys, 4096), -EINVAL);
    CHECK(kho_restore_folio(stale_phys) == NULL);
    CHECK(kho_restore_phys(stale_phys, 4096) == NULL);
    EQ(kho_add_subtree("misuse", "x", 1), -EINVAL);
    EQ(kho_retrieve_subtree("misuse", &blob, &size), -EINVAL);
    EQ(kho_boot_status(&status), -EINVAL);                 /* nothing booted */
    EQ(kho_finalize(), -EINVAL);
    EQ(kho_abort(), -EINVAL);
    EQ(kstate_save_state(&one_state, &o, 1), -EINVAL);
    EQ(kstate_register(&one_state, &o, 1), -EINVAL);
    EQ(kstate_unregister(&one_state, &o, 1), -EINVAL);
    EQ(kstate_restore(&one_state, &o, 1), -EINVAL);
    EQ(kstate_save_data(NULL, &o, sizeof o), -EINVAL);
    EQ(kstate_restore_data(NULL, &o, sizeof o), -EINVAL);
    CHECK(kstate_strerror(INT_MIN) != NULL);
    CHECK(kstate_version() != NULL && strchr(kstate_version(), '.') != NULL); /* needs no boot */
    EQ(kstate_session_create("misuse", &s), -EINVAL);
    EQ(kstate_session_retrieve("misuse", &s), -EINVAL);
    EQ(kstate_session_save_state(stale_session, &one_state, &o, 1), -EINVAL);
    EQ(kstate_session_restore(stale_session, &one_state, &o, 1), -EINVAL);
    EQ(kstate_session_finish(stale_session), -EINVAL);
    EQ(kstate_session_close(stale_session), -EINVAL);
    EQ(kstate_session_discard(stale_session, 1), -EINVAL);
    CHECK(kstate_last_error() != NULL && strlen(kstate_last_error()) > 0);
    unbooted_in_place(stale_virt);
}

/* The in-place functions booted (cold), with NULL, foreign and made-up arguments. */
static void booted_in_place_nonsense(void)
{
    struct kho_vmalloc vm = { 0 };
    char local[64];
    char *area = kho_vmalloc(2 * 4096);

    CHECK(area != NULL);
    EQ(kho_preserve_pages(NULL, 1), -EINVAL);
    EQ(kho_preserve_pages(local, 1), -EINVAL);             /* not in the region */
    EQ(kho_preserve_pages(area, 1), -EINVAL);              /* in a kho_vmalloc area: not one physical run */
    EQ(kho_unpreserve_pages(NULL, 0), -EINVAL);
    CHECK(kho_restore_pages(~0ULL, UINT_MAX) == NULL);
    errno = 0;
    CHECK(kho_restore_pages(0, 0) == NULL);
    EQ(errno, ENOENT);
    errno = 0;
    CHECK(kho_alloc_preserve(0) == NULL);
    EQ(errno, EINVAL);
    CHECK(kho_alloc_preserve(~(size_t)0) == NULL);
    kho_unpreserve_free(NULL);
    kho_unpreserve_free(local);
    errno = 0;
    kho_restore_free(local);
    EQ(errno, EINVAL);
    CHECK(kho_vmalloc(0) == NULL);
    errno = 0;
    CHECK(kho_vmalloc(~(size_t)0) == NULL);
    EQ(errno, EINVAL);
    kho_vfree(NULL);
    kho_vfree(local);
    errno = 0;
    kho_vfree(area + 4096);                                 /* not the start of the area */
    EQ(errno, EINVAL);
    EQ(kho_preserve_vmalloc(NULL, &vm), -EINVAL);
    EQ(kho_preserve_vmalloc(area, NULL), -EINVAL);
    EQ(kho_preserve_vmalloc(local, &vm), -EINVAL);
    kho_unpreserve_vmalloc(NULL);
    errno = 0;
    kho_unpreserve_vmalloc(&vm);                            /* no flags: a damaged record */
    EQ(errno, EBADMSG);
    CHECK(kho_restore_vmalloc(NULL) == NULL);
    vm = (struct kho_vmalloc){ .first = ~0ULL, .total_pages = UINT32_MAX, .flags = 0xffff, .order = 0xffff };
    errno = 0;
    CHECK(kho_restore_vmalloc(&vm) == NULL);
    EQ(errno, ENOENT);                                      /* a cold boot has nothing to restore */
    kho_vfree(area);
}

/* Booted, with NULL and made-up arguments. */
static void booted_nonsense(void)
{
    static struct one o;
    const void *blob = NULL;
    size_t size = 0;
    struct folio *made_up = (struct folio *)(uintptr_t)0xdeadbeef000ULL;

    EQ(kho_init_fd(0, 4 << 20), -EBUSY);                   /* a region is booted already */
    EQ(kho_init_wait("/nonexistent/kstate", 4 << 20, 0), -EBUSY); /* also without waiting or touching the path */
    CHECK(kho_folio_alloc(UINT_MAX) == NULL);
    kho_folio_put(NULL);
    kho_folio_put(made_up);
    CHECK(kho_folio_address(NULL) == NULL);
    CHECK(kho_folio_address(made_up) == NULL);
    CHECK(kho_phys_to_virt(~0ULL) == NULL);
    EQ(kho_virt_to_phys(NULL), 0);
    EQ(kho_preserve_folio(made_up), -EINVAL);
    EQ(kho_unpreserve_folio(NULL), -EINVAL);
    EQ(kho_preserve_phys(~0ULL & ~4095ULL, 4096), -EINVAL);
    CHECK(kho_restore_folio(~0ULL) == NULL);
    CHECK(kho_restore_phys(~0ULL, ~(size_t)0) == NULL);
    EQ(kho_add_subtree(NULL, "x", 1), -EINVAL);
    EQ(kho_add_subtree("misuse", NULL, 1), -EINVAL);
    EQ(kho_retrieve_subtree(NULL, &blob, &size), -EINVAL);
    EQ(kho_retrieve_subtree("misuse", NULL, NULL), -EINVAL);
    EQ(kho_boot_status(NULL), -EINVAL);
    EQ(kstate_save_state(NULL, &o, 1), -EINVAL);
    EQ(kstate_save_state(&one_state, NULL, 1), -EINVAL);
    EQ(kstate_register(&one_state, NULL, 1), -EINVAL);
    EQ(kstate_unregister(NULL, &o, 1), -EINVAL);
    EQ(kstate_restore(&one_state, NULL, 1), -EINVAL);
    EQ(kstate_save_data(NULL, NULL, 1), -EINVAL);
    EQ(kstate_restore_data(NULL, NULL, 1), -EINVAL);
    EQ(kstate_session_create(NULL, NULL), -EINVAL);
    EQ(kstate_session_retrieve(NULL, NULL), -EINVAL);
    EQ(kstate_session_save_state(NULL, NULL, NULL, 0), -EINVAL);
    EQ(kstate_session_restore(NULL, NULL, NULL, 0), -EINVAL);
    EQ(kstate_session_finish(NULL), -EINVAL);
    EQ(kstate_session_close(NULL), -EINVAL);
    EQ(kstate_session_discard(NULL, 0), -EINVAL);
    booted_in_place_nonsense();
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: misuse REGION\n");
        return 2;
    }
    unbooted(NULL, 0, NULL, NULL);                          /* before any kho_init */

    EQ(kho_init(argv[1], 4 << 20), 0);
    struct folio *f = kho_folio_alloc(0);
    CHECK(f != NULL);
    phys_addr_t phys = kho_folio_phys(f);
    void *virt = kho_folio_address(f);
    struct kstate_session *s = NULL;
    EQ(kstate_session_create("misuse", &s), 0);
    stale_area = kho_vmalloc(4096);
    CHECK(stale_area != NULL);
    booted_nonsense();
    EQ(kho_exit(), 0);

    unbooted(f, phys, virt, s);                             /* after kho_exit, with the last generation's handles */
    printf("%d checks, %d failed\n", checks, failures);
    return failures;
}
