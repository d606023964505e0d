// The KSTATE talk's example from C++ (C++17 or later): a live update across two processes.
//   talk-cpp save REGION      generation 1: fill struct a, register it, finalize, exit
//   talk-cpp restore REGION   generation 2: boot, restore struct a, print it
// Build: g++ -std=c++17 talk.cpp $(pkg-config --cflags --libs kstate)
// The field macros check member types here as in C. C++ has no compound literals, so the field list is a named
// array, and the description is initialized in member order (C++17 has no designated initializers).
#include <kstate.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

struct a {
    int i;
    unsigned long *p_ulong;
    char s[10];
    struct folio *folio;
};

static const kstate_field a_fields[] = {
    KSTATE_BASE_TYPE(i, struct a, int),
    KSTATE_BASE_TYPE(s, struct a, char[10]),
    KSTATE_POINTER(p_ulong, struct a),
    KSTATE_FOLIO(folio, struct a),
    KSTATE_END_OF_LIST(),
};

// name, id, version_id, min_version_id, fields, subsections, needed, pre_save, post_load
static const kstate_description a_state = {"a_struct", KSTATE_TEST_ID, 1, 1, a_fields, nullptr, nullptr, nullptr, nullptr};

namespace {

// A KState call that failed, with the library's words for it.
struct kstate_error : std::runtime_error {
    kstate_error(const char *what, int err)
        : std::runtime_error(std::string(what) + ": " + kstate_strerror(err) + " (" + kstate_last_error() + ")") {}
};

void check(const char *what, int err)
{
    if (err)
        throw kstate_error(what, err);
}

// One generation: booted on the region for the object's lifetime.
class generation {
public:
    generation(const char *region, uint64_t size) { check("kho_init", kho_init(region, size)); }
    ~generation()
    {
        if (booted_)
            kho_exit(); // leaving on an error: no handover, the next boot is cold
    }
    generation(const generation &) = delete;
    generation &operator=(const generation &) = delete;
    void exit()
    {
        booted_ = false;
        check("kho_exit", kho_exit());
    }

private:
    bool booted_ = true;
};

int save(const char *region)
{
    generation gen(region, 16 << 20);
    static unsigned long value = 0xdeadbeefUL;
    static struct a obj;
    obj.i = 42;
    obj.p_ulong = &value;
    std::strcpy(obj.s, "kstate!");
    obj.folio = kho_folio_alloc(1);
    if (!obj.folio)
        throw kstate_error("kho_folio_alloc", -12);
    std::memset(kho_folio_address(obj.folio), 0x5a, 8192);
    check("kstate_register", kstate_register(&a_state, &obj, 1));
    check("kho_finalize", kho_finalize());
    std::printf("saved by libkstate %s: i=%d *p_ulong=%#lx s=%s folio order %u\n", kstate_version(), obj.i, *obj.p_ulong,
                obj.s, kho_folio_order(obj.folio));
    gen.exit();
    return 0;
}

int restore(const char *region)
{
    generation gen(region, 0);
    if (!is_kho_boot())
        throw kstate_error("is_kho_boot", -2);
    struct a obj {};
    check("kstate_restore", kstate_restore(&a_state, &obj, 1));
    auto bytes = static_cast<const unsigned char *>(kho_folio_address(obj.folio));
    bool ok = bytes && bytes[0] == 0x5a && bytes[8191] == 0x5a;
    std::printf("restored: i=%d *p_ulong=%#lx s=%s folio order %u contents %s\n", obj.i, *obj.p_ulong, obj.s,
                kho_folio_order(obj.folio), ok ? "ok" : "WRONG");
    bool same = ok && obj.i == 42 && std::strcmp(obj.s, "kstate!") == 0;
    std::free(obj.p_ulong); // restore allocated it with malloc: the pointer was NULL
    gen.exit();
    return same ? 0 : 1;
}

} // namespace

int main(int argc, char **argv)
{
    if (argc != 3 || (std::strcmp(argv[1], "save") != 0 && std::strcmp(argv[1], "restore") != 0)) {
        std::fprintf(stderr, "usage: talk-cpp save|restore REGION\n");
        return 2;
    }
    try {
        return std::strcmp(argv[1], "save") == 0 ? save(argv[2]) : restore(argv[2]);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "talk-cpp: %s\n", e.what());
        return 1;
    }
}
