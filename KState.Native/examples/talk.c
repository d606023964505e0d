/* The KSTATE talk's example as a live update across two processes.
 *   talk save REGION      generation 1: fill struct a, register it, finalize, exit
 *   talk restore REGION   generation 2: boot, restore struct a, print it
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <kstate.h>

struct a { int i; unsigned long *p_ulong; char s[10]; struct folio *folio; };

struct kstate_description a_state = {
    .name = "a_struct", .version_id = 1, .min_version_id = 1, .id = KSTATE_TEST_ID,
    .fields = (const struct kstate_field[]) {
        KSTATE_BASE_TYPE(i, struct a, int),
        KSTATE_BASE_TYPE(s, struct a, char [10]),
        KSTATE_POINTER(p_ulong, struct a),
        KSTATE_FOLIO(folio, struct a),
        KSTATE_END_OF_LIST()
    },
};

static int fail(const char *what, int err)
{
    fprintf(stderr, "talk: %s: %s (%s)\n", what, kstate_strerror(err), kstate_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: talk save|restore REGION\n");
        return 2;
    }
    static struct a a;
    int err = kho_init(argv[2], strcmp(argv[1], "save") == 0 ? 16 << 20 : 0);
    if (err)
        return fail("kho_init", err);

    if (strcmp(argv[1], "save") == 0) {
        static unsigned long value = 0xdeadbeefUL;
        a.i = 42;
        a.p_ulong = &value;
        strcpy(a.s, "kstate!");
        a.folio = kho_folio_alloc(1);
        if (!a.folio)
            return fail("kho_folio_alloc", -12);
        memset(kho_folio_address(a.folio), 0x5a, 8192);
        if ((err = kstate_register(&a_state, &a, 1)))
            return fail("kstate_register", err);
        if ((err = kho_finalize()))
            return fail("kho_finalize", err);
        printf("saved: i=%d *p_ulong=%#lx s=%s folio order %u\n", a.i, *a.p_ulong, a.s, kho_folio_order(a.folio));
    } else {
        if (!is_kho_boot())
            return fail("is_kho_boot", -2);
        if ((err = kstate_restore(&a_state, &a, 1)))
            return fail("kstate_restore", err);
        const unsigned char *bytes = kho_folio_address(a.folio);
        int ok = bytes && bytes[0] == 0x5a && bytes[8191] == 0x5a;
        printf("restored: i=%d *p_ulong=%#lx s=%s folio order %u contents %s\n",
               a.i, *a.p_ulong, a.s, kho_folio_order(a.folio), ok ? "ok" : "WRONG");
        free(a.p_ulong); /* restore allocated it: the pointer was NULL */
        if (!ok || a.i != 42 || strcmp(a.s, "kstate!"))
            return 1;
    }
    return kho_exit() ? 1 : 0;
}
