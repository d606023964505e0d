/* kstate.h — KState from C: the KHO emulator and KSTATE (docs/C-API.md describes them).
 *
 * Every function returns 0 or a negative errno unless said otherwise; kstate_strerror() gives the text.
 * Functions returning a pointer or a phys return NULL / 0 on error and set errno. No function crashes the process
 * on bad input, and every function may be called from any thread: kho_init and kho_exit wait for calls in flight.
 * Build: gcc app.c $(pkg-config --cflags --libs kstate)
 */
#ifndef KSTATE_H
#define KSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef uint64_t phys_addr_t;
struct folio;                       /* opaque handle */
struct kstate_stream;               /* cursor handed to custom callbacks */
struct kstate_description;
struct kstate_session;              /* opaque handle: a key, never a pointer to memory */

enum kstate_field_kind {
    KS_END = 0,
    KS_BASE_TYPE = 1,
    KS_POINTER = 2,
    KS_FOLIO = 3,
    KS_STRUCT = 4,
    KS_CUSTOM = 5,
    KS_DEPRECATED = 6,
    KS_KHO_POINTER = 7,             /* a pointer into KHO memory: stored as phys, translated on restore */
    KS_PRESERVED_STRUCT = 8,        /* a pointer to one struct in preserved memory: handed over in place */
    KS_PRESERVED_ARRAY = 9,         /* a pointer to an array of structs in preserved memory, counted by a member */
};

/* KS_PRESERVED_STRUCT and KS_PRESERVED_ARRAY fields (built with the KSTATE_PRESERVED_* macros) use the members of
 * struct kstate_field so:
 *   kind   the KS_* value in the low 8 bits, or'ed with KS_TRUSTED (0x100) to check only the metadata at restore
 *          (without it an XXH3-64 checksum of the elements is computed at save and checked at restore);
 *   size   sizeof one element (the distance between elements);
 *   count  KS_PRESERVED_STRUCT: 1; KS_PRESERVED_ARRAY: the count member as (offsetof(struct, member) << 8) | sizeof(member),
 *          an unsigned integer of 1, 2, 4 or 8 bytes: saving reads it, restoring sets it;
 *   ksd    the element description: only KSTATE_BASE_TYPE, KSTATE_BASE_TYPE_DEPRECATED, KSTATE_KHO_POINTER (the element
 *          holds a phys: DECLARE_KHOSER_PTR) and KSTATE_STRUCT of such descriptions; no subsections, no hooks (-EINVAL). */
#define KS_TRUSTED 0x100
#define KSTATE_COUNT_MEMBER(_state, _cf) (((size_t)offsetof(_state, _cf) << 8) | sizeof(KSTATE_MEMBER(_state, _cf)))

struct kstate_field {               /* built with the macros below */
    const char *name;
    size_t offset;                  /* offsetof(struct, member) */
    size_t size;                    /* element size (pointee size for pointers) */
    int kind;                       /* KS_* */
    int version_id;                 /* first version that has the field (0 = always);
                                       for KS_DEPRECATED: last version that had it */
    size_t count;                   /* elements; 0 or 1 = one */
    const struct kstate_description *ksd;                       /* KS_STRUCT */
    int (*save)(struct kstate_stream *, void *obj, const struct kstate_field *);
    int (*restore)(struct kstate_stream *, void *obj, const struct kstate_field *);
};

struct kstate_description {
    const char *name;
    uint64_t id;                    /* state id */
    int version_id;                 /* version written */
    int min_version_id;             /* oldest version this description can read */
    const struct kstate_field *fields;                   /* ends with KSTATE_END_OF_LIST() */
    const struct kstate_description **subsections;      /* NULL-terminated, may be NULL */
    bool (*needed)(void *obj);      /* for a subsection: send it only when true; NULL = always */
    int (*pre_save)(void *obj);     /* non-zero aborts the save */
    int (*post_load)(void *obj, int version_id);  /* after fields and subsections */
};

/* The id the KSTATE talk's example uses. */
#define KSTATE_TEST_ID 0x4b53544154455445ULL

/* Compile-time checks, as the kernel's BUILD_BUG_ON_ZERO: 0 when e is false, a build error when it is true.
 * C++ allows no type defined in sizeof and has no __builtin_types_compatible_p: the same checks by static_assert. */
#define KSTATE_MEMBER(_state, _f) (((_state *)0)->_f)
#ifdef __cplusplus
#define KSTATE_BUILD_BUG_ON_ZERO(e) (::kstate_cxx::bug_on_zero<(bool)(e)>::value)
#define KSTATE_CHECK_TYPE(_state, _f, _type) \
    (::kstate_cxx::same_type<decltype(KSTATE_MEMBER(_state, _f)), _type>::value)
#define KSTATE_CHECK_UNSIGNED(_state, _f) (::kstate_cxx::unsigned_count<decltype(KSTATE_MEMBER(_state, _f))>::value)
#else
#define KSTATE_BUILD_BUG_ON_ZERO(e) ((size_t)sizeof(struct { int : (-!!(e)); }))
#define KSTATE_CHECK_TYPE(_state, _f, _type) \
    KSTATE_BUILD_BUG_ON_ZERO(!__builtin_types_compatible_p(__typeof__(KSTATE_MEMBER(_state, _f)), _type))
/* An unsigned integer: % compiles only for integers, and only an unsigned type makes -1 positive. */
#define KSTATE_CHECK_UNSIGNED(_state, _f) \
    (sizeof(KSTATE_MEMBER(_state, _f) % 1) * 0 + KSTATE_BUILD_BUG_ON_ZERO(!((__typeof__(KSTATE_MEMBER(_state, _f)))-1 > 0)))
#endif

/* One struct kstate_field: designated in C (as the kernel's macros), positional in C++ (C++17 has no designators). */
#ifdef __cplusplus
#define KSTATE_FIELD_INIT(_name, _offset, _size, _kind, _version, _count, _ksd, _save, _restore) \
    { (_name), (size_t)(_offset), (size_t)(_size), (int)(_kind), (int)(_version), (size_t)(_count), (_ksd), (_save), (_restore) }
#else
#define KSTATE_FIELD_INIT(_name, _offset, _size, _kind, _version, _count, _ksd, _save, _restore) {                    \
    .name = (_name), .offset = (_offset), .size = (_size), .kind = (_kind), .version_id = (_version),              \
    .count = (_count), .ksd = (_ksd), .save = (_save), .restore = (_restore),                                      \
}
#endif

#define KSTATE_BASE_TYPE_V(_f, _state, _type, _version)                          \
    KSTATE_FIELD_INIT(#_f, offsetof(_state, _f) + KSTATE_CHECK_TYPE(_state, _f, _type), sizeof(_type), \
                      KS_BASE_TYPE, (_version), 1, NULL, NULL, NULL)
#define KSTATE_BASE_TYPE(_f, _state, _type) KSTATE_BASE_TYPE_V(_f, _state, _type, 0)

#define KSTATE_BASE_TYPE_DEPRECATED(_f, _type, _last_version)                   \
    KSTATE_FIELD_INIT(#_f, 0, sizeof(_type), KS_DEPRECATED, (_last_version), 1, NULL, NULL, NULL)

/* The member must be a pointer (dereferencing anything else does not compile); its pointee is saved. */
#define KSTATE_POINTER_V(_f, _state, _version)                                  \
    KSTATE_FIELD_INIT(#_f, offsetof(_state, _f) + KSTATE_BUILD_BUG_ON_ZERO(sizeof(KSTATE_MEMBER(_state, _f)) != sizeof(void *)), \
                      sizeof(*KSTATE_MEMBER(_state, _f)), KS_POINTER, (_version), 1, NULL, NULL, NULL)
#define KSTATE_POINTER(_f, _state) KSTATE_POINTER_V(_f, _state, 0)

/* A pointer to _count elements. */
#define KSTATE_POINTER_ARRAY(_f, _state, _count)                                \
    KSTATE_FIELD_INIT(#_f, offsetof(_state, _f) + KSTATE_BUILD_BUG_ON_ZERO(sizeof(KSTATE_MEMBER(_state, _f)) != sizeof(void *)), \
                      sizeof(*KSTATE_MEMBER(_state, _f)), KS_POINTER, 0, (_count), NULL, NULL, NULL)

#define KSTATE_FOLIO(_f, _state)                                                \
    KSTATE_FIELD_INIT(#_f, offsetof(_state, _f) + KSTATE_CHECK_TYPE(_state, _f, struct folio *), \
                      sizeof(struct folio *), KS_FOLIO, 0, 1, NULL, NULL, NULL)

#define KSTATE_KHO_POINTER(_f, _state)                                          \
    KSTATE_FIELD_INIT(#_f, offsetof(_state, _f) + KSTATE_BUILD_BUG_ON_ZERO(sizeof(KSTATE_MEMBER(_state, _f)) != sizeof(void *)), \
                      sizeof(*KSTATE_MEMBER(_state, _f)), KS_KHO_POINTER, 0, 1, NULL, NULL, NULL)

/* In-place fields: the member points at memory from kho_alloc_preserve, kho_vmalloc or a folio (its start). Saving
 * preserves it if it is not yet and records where it is, copying nothing; restoring hands the same memory back through
 * KHO, or converts the elements into new preserved memory when the element layout changed (docs/C-API.md). _cf must be
 * an unsigned integer member (checked at compile time, as the pointer member is). */
#define KSTATE_PRESERVED_STRUCT_FLAGS_V(_f, _state, _ksd, _flags, _version)                                           \
    KSTATE_FIELD_INIT(#_f, offsetof(_state, _f) + KSTATE_BUILD_BUG_ON_ZERO(sizeof(KSTATE_MEMBER(_state, _f)) != sizeof(void *)), \
                      sizeof(*KSTATE_MEMBER(_state, _f)), KS_PRESERVED_STRUCT | (_flags), (_version), 1, (_ksd), NULL, NULL)
#define KSTATE_PRESERVED_STRUCT(_f, _state, _ksd) KSTATE_PRESERVED_STRUCT_FLAGS_V(_f, _state, _ksd, 0, 0)
#define KSTATE_PRESERVED_STRUCT_TRUSTED(_f, _state, _ksd) KSTATE_PRESERVED_STRUCT_FLAGS_V(_f, _state, _ksd, KS_TRUSTED, 0)

#define KSTATE_PRESERVED_ARRAY_FLAGS_V(_f, _state, _ksd, _cf, _flags, _version)                                      \
    KSTATE_FIELD_INIT(#_f, offsetof(_state, _f) + KSTATE_BUILD_BUG_ON_ZERO(sizeof(KSTATE_MEMBER(_state, _f)) != sizeof(void *)) \
                          + KSTATE_CHECK_UNSIGNED(_state, _cf),                                                       \
                      sizeof(*KSTATE_MEMBER(_state, _f)), KS_PRESERVED_ARRAY | (_flags), (_version),                 \
                      KSTATE_COUNT_MEMBER(_state, _cf), (_ksd), NULL, NULL)
#define KSTATE_PRESERVED_ARRAY(_f, _state, _ksd, _cf) KSTATE_PRESERVED_ARRAY_FLAGS_V(_f, _state, _ksd, _cf, 0, 0)
#define KSTATE_PRESERVED_ARRAY_TRUSTED(_f, _state, _ksd, _cf) KSTATE_PRESERVED_ARRAY_FLAGS_V(_f, _state, _ksd, _cf, KS_TRUSTED, 0)

#define KSTATE_STRUCT(_f, _state, _ksd)                                         \
    KSTATE_FIELD_INIT(#_f, offsetof(_state, _f), sizeof(KSTATE_MEMBER(_state, _f)), KS_STRUCT, 0, 1, (_ksd), NULL, NULL)

/* Custom fields: allowed in the description passed to the call and its subsections, not in one nested with
 * KSTATE_STRUCT (-EINVAL). Both callbacks get the object itself; restore's writes to the described members are
 * applied when the whole record has been read (a failed restore leaves them as they were). */
#define KSTATE_CUSTOM(_f, _state, _save, _restore)                              \
    KSTATE_FIELD_INIT(#_f, offsetof(_state, _f), sizeof(KSTATE_MEMBER(_state, _f)), KS_CUSTOM, 0, 1, NULL, (_save), (_restore))

#define KSTATE_END_OF_LIST() KSTATE_FIELD_INIT(NULL, 0, 0, KS_END, 0, 0, NULL, NULL, NULL)

/* KHO emulator */
/* kho_init and kho_exit wait until no call is in flight on another thread; from inside a call (a callback:
 * pre_save, post_load, needed, custom save or restore) they are refused with -EBUSY. */
int kho_init(const char *region_path, uint64_t size);
int kho_exit(void);
bool is_kho_boot(void);
struct folio *kho_folio_alloc(unsigned int order);
void kho_folio_put(struct folio *folio);
void *kho_folio_address(const struct folio *folio);
unsigned int kho_folio_order(const struct folio *folio);
phys_addr_t kho_folio_phys(const struct folio *folio);
void *kho_phys_to_virt(phys_addr_t phys);
phys_addr_t kho_virt_to_phys(const void *virt);
int kho_preserve_folio(struct folio *folio);
int kho_unpreserve_folio(struct folio *folio);
int kho_preserve_phys(phys_addr_t phys, size_t size);
int kho_unpreserve_phys(phys_addr_t phys, size_t size);
struct folio *kho_restore_folio(phys_addr_t phys);
void *kho_restore_phys(phys_addr_t phys, size_t size);
int kho_add_subtree(const char *name, const void *blob, size_t size);
int kho_retrieve_subtree(const char *name, const void **blob, size_t *size);
int kho_finalize(void);
int kho_abort(void);

/* KSTATE */
int kstate_save_state(const struct kstate_description *ksd, void *obj, uint64_t instance_id);
int kstate_register(const struct kstate_description *ksd, void *obj, uint64_t instance_id);
int kstate_unregister(const struct kstate_description *ksd, void *obj, uint64_t instance_id);
/* A non-NULL pointer member is filled in place with size * count bytes: it must hold that many (the library
 * cannot know); a NULL one gets memory from malloc. A description may be changed between calls: it is read at
 * every call and compiled again when it changed. */
int kstate_restore(const struct kstate_description *ksd, void *obj, uint64_t instance_id);
int kstate_save_data(struct kstate_stream *stream, const void *data, size_t size);
int kstate_restore_data(struct kstate_stream *stream, void *data, size_t size);
const char *kstate_strerror(int err);
/* The library's version, "MAJOR.MINOR.PATCH": the package's version, the same as kstate.pc's. */
const char *kstate_version(void);

/* Sessions (LUO-style): named groups of items, each under a 64-bit token. A stale or made-up handle is -EINVAL. */
/* An outgoing session, saved at kho_finalize; name is 1..63 bytes of UTF-8. -EEXIST duplicate name, -EBUSY finalized. */
int kstate_session_create(const char *name, struct kstate_session **session);
/* An incoming session after a KHO boot (once). -ENOENT cold boot or no such session, -EBUSY already retrieved. */
int kstate_session_retrieve(const char *name, struct kstate_session **session);
/* Preserve obj as item `token`; saved at kho_finalize, so obj must stay valid until then. -EEXIST duplicate token. */
int kstate_session_save_state(struct kstate_session *session, const struct kstate_description *ksd, void *obj, uint64_t token);
/* Restore item `token` into obj (again into the same obj: 0; into another: -EBUSY); NULL pointer members are malloc'd. */
int kstate_session_restore(struct kstate_session *session, const struct kstate_description *ksd, void *obj, uint64_t token);
/* Finish a retrieved session, all or nothing: -EBUSY (nothing done) while an item is not restored. Ends the handle. */
int kstate_session_finish(struct kstate_session *session);

/* Beyond the contract: the text of the last error this thread got (why a description is invalid, say). The text
 * stays valid until the next failing call on the same thread, which frees it: copy it to keep it. */
const char *kstate_last_error(void);
/* Beyond the contract: drop an outgoing session and its items (not saved); ends the handle. -EBUSY finalized. */
int kstate_session_close(struct kstate_session *session);
/* Beyond the contract: give up item token of a retrieved session, not restored (damaged, or another program's
 * handler), so that the session can finish; its memory stays unrestored. -EINVAL already restored. */
int kstate_session_discard(struct kstate_session *session, uint64_t token);
/* As kho_init, on an open file: a memfd, or one received over a unix socket (SCM_RIGHTS) or from systemd's fd
 * store (LISTEN_FDS). The library reopens it through /proc/self/fd and keeps that; fd stays the caller's (it may be
 * closed once this returns). Checks as a path: regular file, owner, mode 0600 (a memfd is set to 0600). An empty
 * file is formatted when size is not 0; one with content must carry a region's header. A memfd's size is then
 * sealed (F_SEAL_SHRINK | F_SEAL_GROW) where sealing is allowed. -EBUSY while another process has it booted,
 * even one holding the same fd: finalize and kho_exit before sending the fd on. */
int kho_init_fd(int fd, uint64_t size);

/* As kho_init, but while another process has the region booted it waits, for at most timeout_ms, until that
 * process has finalized and let go of the region (kho_exit lets go first, before it unmaps) or has exited; then
 * boots on its handover, or cold if it exited without finalizing. -ETIMEDOUT when the time runs out (the region is
 * untouched); timeout_ms 0 tries once. Other threads' KState calls wait until it returns. */
int kho_init_wait(const char *region_path, uint64_t size, unsigned int timeout_ms);

/* The boot outcome as data: what kho_init found, so that a program tells a first start from lost state. */
enum kho_boot_kind {
    KHO_BOOT_FIRST = 0,          /* a region created by this boot */
    KHO_BOOT_HANDOVER = 1,       /* a committed handover was found and booted */
    KHO_BOOT_NONE = 2,           /* an existing region with no handover (never finalized, or aborted) */
    KHO_BOOT_CONSUMED = 3,       /* the newest handover was already booted by an earlier generation */
    KHO_BOOT_DAMAGED = 4,        /* a handover or commit slot was there but failed validation: booted cold */
    KHO_BOOT_INCOMPATIBLE = 5,   /* a handover of a format version this library cannot read: booted cold */
    KHO_BOOT_BUSY = 6,           /* never returned by kho_boot_status (kho_init gave -EBUSY); the tools report it */
};
struct kho_boot_status {
    int kind;                    /* enum kho_boot_kind */
    int error;                   /* for DAMAGED/INCOMPATIBLE: the negative errno the check gave (-EBADMSG), else 0 */
    uint64_t generation;         /* the handover's generation (booted, consumed, aborted, rejected), 0 if none */
    uint64_t offset;             /* for DAMAGED/INCOMPATIBLE: byte offset in the region of what failed (the part's
                                    start when a checksum caught it), else 0 */
    char part[32];               /* for DAMAGED: "commit slot N", "root tree", "map" or "map summary"; INCOMPATIBLE:
                                    "root tree"; else "" */
    char reason[224];            /* the same text the tools print (UTF-8, cut to fit, NUL-terminated) */
};
/* The outcome of this process's boot. -EINVAL status is NULL or no region is booted. */
int kho_boot_status(struct kho_boot_status *status);

/* Preserved memory used in place (the kernel's 2025-2026 KHO API; docs/C-API.md). Pointers are this generation's:
 * phys is what crosses generations. Pointer functions return NULL and set errno; the void ones set errno too. */
/* Any run of whole allocated frames at addr (not only a power of two); restored as exactly that run, once. */
int kho_preserve_pages(void *addr, unsigned int nr_pages);
int kho_unpreserve_pages(void *addr, unsigned int nr_pages);
/* NULL (ENOENT): not preserved as a run of exactly nr_pages at phys, or restored already. */
void *kho_restore_pages(phys_addr_t phys, unsigned int nr_pages);
/* Zeroed, physically contiguous, rounded up to 2^order pages, preserved as a folio. NULL: EINVAL size 0 or above the
 * largest folio, ENOMEM none free, EBUSY finalized. */
void *kho_alloc_preserve(size_t size);
void kho_unpreserve_free(void *mem);   /* outgoing generation: unpreserve and free */
void kho_restore_free(void *mem);      /* incoming generation: restore (once) and free what it no longer needs */

/* A preserved vmalloc area: the phys of the first page of its chunk list (docs/FORMAT.md, "Vmalloc chunk list").
 * In C++ too, name it "struct kho_vmalloc": the function kho_vmalloc hides the bare name. */
struct kho_vmalloc {
    uint64_t first;
    uint32_t total_pages;
    uint16_t flags;                    /* KHO_VMALLOC_FLAG_VMALLOC; any other bit is refused */
    uint16_t order;                    /* order of every frame */
};
#define KHO_VMALLOC_FLAG_VMALLOC 0x0001
/* Zeroed, virtually contiguous; its frames need not be physically contiguous (order 0 at worst), so an area may be
 * larger than any free contiguous run. Mapped in this process only: keep a struct kho_vmalloc, never the pointer. */
void *kho_vmalloc(size_t size);
void kho_vfree(void *ptr);             /* ptr from kho_vmalloc or kho_restore_vmalloc; NULL does nothing */
/* Preserves every frame and a chunk list of their phys; -EEXIST already preserved, -EBUSY finalized. */
int kho_preserve_vmalloc(void *ptr, struct kho_vmalloc *preservation);
void kho_unpreserve_vmalloc(struct kho_vmalloc *preservation);
/* The same frames, mapped contiguously again, once. NULL: ENOENT not preserved or restored already, EBADMSG a damaged
 * record or chunk list (nothing is claimed then). */
void *kho_restore_vmalloc(const struct kho_vmalloc *preservation);
/* kho_virt_to_phys also translates an address inside a kho_vmalloc area: the phys of the frame behind it. */

/* A pointer kept inside preserved memory, stored as phys (the region moves between generations): the kernel's
 * KHOSER. KHOSER_STORE_PTR refuses at compile time a value the member could not hold (as an assignment would); a
 * pointer outside the region and its kho_vmalloc areas is stored as 0 (NULL). KHOSER_LOAD_PTR gives the member's type;
 * it reads src twice. A target in a kho_vmalloc area loads at its frame in the region's mapping: keep such a target
 * inside one frame. */
#ifdef __cplusplus
#define KHOSER_TYPEOF_(x) decltype(x)
#else
#define KHOSER_TYPEOF_(x) __typeof__(x)
#endif
#define DECLARE_KHOSER_PTR(name, type) union { phys_addr_t phys; type ptr; } name
#define KHOSER_STORE_PTR(dest, val) ((void)sizeof((dest).ptr = (val)), (dest).phys = kho_virt_to_phys(val))
#define KHOSER_LOAD_PTR(src) ((KHOSER_TYPEOF_((src).ptr))((src).phys ? kho_phys_to_virt((src).phys) : NULL))

#ifdef __cplusplus
}

#include <type_traits>

/* The C++ side of the field macros' checks (not part of the C ABI). */
extern "C++" namespace kstate_cxx {
template <bool Bug> struct bug_on_zero {
    static_assert(!Bug, "KSTATE field macro: the member is not what the macro needs (a pointer field needs a pointer)");
    static constexpr size_t value = 0;
};
/* As __builtin_types_compatible_p: top-level const and volatile do not count (nor the reference decltype gives). */
template <class Member, class Declared> struct same_type {
    static_assert(std::is_same<typename std::remove_cv<typename std::remove_reference<Member>::type>::type,
                               typename std::remove_cv<Declared>::type>::value,
                  "KSTATE field macro: the member's type differs from the type the macro names");
    static constexpr size_t value = 0;
};
/* A preserved array's count member: an unsigned integer of 1, 2, 4 or 8 bytes. */
template <class Member> struct unsigned_count {
    typedef typename std::remove_cv<typename std::remove_reference<Member>::type>::type type;
    static_assert(std::is_integral<type>::value && std::is_unsigned<type>::value && !std::is_same<type, bool>::value,
                  "KSTATE_PRESERVED_ARRAY: the count member must be an unsigned integer");
    static constexpr size_t value = 0;
};
}
#endif

#endif /* KSTATE_H */
