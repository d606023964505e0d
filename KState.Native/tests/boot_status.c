/* The boot outcome through the C ABI: boots the region, prints what kho_boot_status says, and with "finalize"
 * preserves a folio and commits a handover before exiting.  Usage: boot_status REGION [finalize] */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <kstate.h>

_Static_assert(sizeof(struct kho_boot_status) == 280, "struct kho_boot_status is 280 bytes on every ABI");

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: boot_status REGION [finalize]\n");
        return 2;
    }
    int err = kho_init(argv[1], 1 << 20);
    if (err) {
        printf("kho_init: %s\n", kstate_strerror(err));
        return 1;
    }
    struct kho_boot_status s;
    memset(&s, 0x7f, sizeof s);                             /* every byte must be written */
    err = kho_boot_status(&s);
    if (err) {
        printf("kho_boot_status: %s\n", kstate_strerror(err));
        return 1;
    }
    printf("kind=%d error=%d generation=%llu offset=%llu part=%s is_kho_boot=%d\nreason=%s\n", s.kind, s.error,
           (unsigned long long)s.generation, (unsigned long long)s.offset, s.part, is_kho_boot(), s.reason);
    if (argc > 2 && strcmp(argv[2], "finalize") == 0) {
        struct folio *f = kho_folio_alloc(0);
        if (!f || kho_preserve_folio(f) || kho_finalize()) {
            printf("finalize failed: %s\n", kstate_last_error());
            return 1;
        }
    }
    return kho_exit() ? 1 : 0;
}
