// kvdb from C++: RAII ownership of every handle, errors as exceptions with
// the library's detail, values as std::string.
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "kvdb.h"

namespace {

int checks = 0;
int failures = 0;

void check(bool ok, const char *what, int line) {
    ++checks;
    if (!ok) {
        ++failures;
        std::fprintf(stderr, "api_test.cpp:%d: CHECK failed: %s\n", line, what);
    }
}
#define CHECK(cond) check((cond), #cond, __LINE__)

class Error : public std::runtime_error {
  public:
    Error(kvdb_status_t status, const std::string &detail)
        : std::runtime_error(detail), status_(status) {}
    kvdb_status_t status() const { return status_; }

  private:
    kvdb_status_t status_;
};

void ok(kvdb_status_t s) {
    if (s == KVDB_OK) return;
    std::string detail(kvdb_last_error(nullptr, 0), '\0');
    kvdb_last_error(detail.data(), detail.size() + 1);
    throw Error(s, detail);
}

struct Closer {
    void operator()(kvdb_t *db) const { kvdb_close(db); }
};
struct SnapshotFree {
    void operator()(kvdb_snapshot_t *s) const { kvdb_snapshot_free(s); }
};
struct IterFree {
    void operator()(kvdb_iter_t *it) const { kvdb_iter_free(it); }
};
struct BatchFree {
    void operator()(kvdb_batch_t *b) const { kvdb_batch_free(b); }
};

class Db {
  public:
    explicit Db(const char *path) {
        kvdb_t *raw = nullptr;
        ok(kvdb_open(path, nullptr, &raw));
        db_.reset(raw);
    }
    void put(std::string_view k, std::string_view v) { ok(kvdb_put(db_.get(), k.data(), k.size(), v.data(), v.size())); }
    std::optional<std::string> get(std::string_view k) {
        void *val = nullptr;
        size_t len = 0;
        kvdb_status_t s = kvdb_get(db_.get(), k.data(), k.size(), &val, &len);
        if (s == KVDB_NOT_FOUND) return std::nullopt;
        ok(s);
        std::string out(static_cast<const char *>(val), len);
        kvdb_free(val);
        return out;
    }
    void write(kvdb_batch_t *b) { ok(kvdb_write(db_.get(), b)); }
    kvdb_t *raw() { return db_.get(); }

  private:
    std::unique_ptr<kvdb_t, Closer> db_;
};

}  // namespace

int main() {
    Db db(nullptr);
    db.put("lang", "c++");
    CHECK(db.get("lang") == std::optional<std::string>("c++"));
    CHECK(!db.get("missing").has_value());
    std::string binary("a\0b", 3);
    db.put(binary, binary);
    CHECK(db.get(binary)->size() == 3);

    try {
        db.put(std::string(70000, 'k'), "v");
        CHECK(false);
    } catch (const Error &e) {
        CHECK(e.status() == KVDB_TOO_LARGE);
        CHECK(std::strstr(e.what(), "kvdb_put") != nullptr);
    }

    std::unique_ptr<kvdb_batch_t, BatchFree> batch(kvdb_batch_new());
    for (int i = 0; i < 10; ++i) {
        std::string k = "n:" + std::to_string(i);
        ok(kvdb_batch_put(batch.get(), k.data(), k.size(), k.data(), k.size()));
    }
    db.write(batch.get());

    kvdb_snapshot_t *rs = nullptr;
    ok(kvdb_snapshot_new(db.raw(), &rs));
    std::unique_ptr<kvdb_snapshot_t, SnapshotFree> snap(rs);
    db.put("n:99", "later");
    kvdb_iter_t *ri = nullptr;
    ok(kvdb_iter_new_prefix(db.raw(), snap.get(), "n:", 2, &ri));
    std::unique_ptr<kvdb_iter_t, IterFree> it(ri);
    std::vector<std::string> keys;
    for (kvdb_iter_seek_to_first(it.get()); kvdb_iter_valid(it.get()); kvdb_iter_next(it.get())) {
        const void *k = nullptr;
        size_t klen = 0;
        ok(kvdb_iter_key(it.get(), &k, &klen));
        keys.emplace_back(static_cast<const char *>(k), klen);
    }
    CHECK(keys.size() == 10);
    CHECK(keys.front() == "n:0" && keys.back() == "n:9");

    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&db] {
            for (int i = 0; i < 250; ++i) ok(kvdb_increment(db.raw(), "hits", 4, 1, nullptr));
        });
    for (auto &t : threads) t.join();
    CHECK(db.get("hits") == std::optional<std::string>("1000"));

    std::printf("checks: %d failures: %d\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
