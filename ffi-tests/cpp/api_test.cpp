// include/kvdb.hpp from C++17: RAII handles, errors as kvdb::error with the
// library's detail, range-for over scans and index queries, transactions,
// batches, TTLs, callback indexes and handles that outlive their database.
// Usage: api_test_cpp DIR (a directory for the durable part; created).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "kvdb.hpp"

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

// Runs `f` and returns the status of the kvdb::error it throws (0: none).
template <class F>
kvdb_status_t status_of(F f) {
    try {
        f();
    } catch (const kvdb::error &e) {
        return e.status();
    }
    return KVDB_OK;
}

using namespace std::chrono_literals;

void point_operations() {
    auto db = kvdb::db::in_memory();
    db.put("lang", "c++");
    CHECK(db.get("lang") == std::optional<std::string>("c++"));
    CHECK(!db.get("missing").has_value());
    CHECK(db.exists("lang") && !db.exists("missing"));

    std::string binary("a\0b", 3);
    db.put(binary, binary);
    CHECK(db.get(binary) == std::optional<std::string>(binary));

    char buf[4];
    CHECK(db.get_into("lang", buf, sizeof buf) == std::optional<size_t>(3));
    CHECK(std::memcmp(buf, "c++", 3) == 0);
    db.put("long", "0123456789");
    CHECK(db.get_into("long", buf, sizeof buf) == std::optional<size_t>(10));
    CHECK(!db.get_into("missing", buf, sizeof buf).has_value());

    using values = std::vector<std::optional<std::string>>;
    db.put("empty", "");
    db.put("big", std::string(100000, 'B'));  // larger than the first buffer
    CHECK(db.get_many({"lang", "missing", "empty", "big"}) ==
          values({"c++", std::nullopt, "", std::string(100000, 'B')}));
    std::vector<std::string> owned{"long", "lang"};
    CHECK(db.get_many(owned) == values({"0123456789", "c++"}));
    CHECK(db.get_many(std::vector<std::string_view>{}).empty());
    {
        auto snap = db.snap();
        db.put("lang", "rust");
        CHECK(snap.get_many({"lang", "long"}) == values({"c++", "0123456789"}));
        CHECK(db.get_many({"lang"}) == values({"rust"}));
        db.put("lang", "c++");
    }
    const std::string huge(KVDB_MAX_KEY_LEN + 1, 'k');
    CHECK(status_of([&] { db.get_many({std::string_view("k"), std::string_view(huge)}); }) == KVDB_TOO_LARGE);

    CHECK(db.del("lang"));
    CHECK(!db.del("lang"));  // absent: an answer, not an error
    CHECK(!db.get("lang").has_value());

    CHECK(db.put_if_absent("lock", "a"));
    CHECK(!db.put_if_absent("lock", "b"));
    CHECK(db.get("lock") == std::optional<std::string>("a"));
    CHECK(db.compare_and_swap("lock", "a", "c") == kvdb::cas_result::swapped);
    CHECK(db.compare_and_swap("lock", "a", "d") == kvdb::cas_result::mismatch);
    CHECK(db.compare_and_swap("nolock", "a", "d") == kvdb::cas_result::absent);
    CHECK(db.increment("n", 5) == 5);
    CHECK(db.increment("n", -2) == 3);
    CHECK(status_of([&] { db.increment("lock"); }) == KVDB_INVALID_ARGUMENT);

    kvdb_status_t too_large = KVDB_OK;
    try {
        db.put(std::string(70000, 'k'), "v");
    } catch (const kvdb::error &e) {
        too_large = e.status();
        CHECK(std::strstr(e.what(), "too large") != nullptr || std::strstr(e.what(), "limit") != nullptr);
    }
    CHECK(too_large == KVDB_TOO_LARGE);

    auto stats = db.stats();
    CHECK(stats.live_keys >= 4);
    CHECK(!kvdb::version().empty());
    CHECK(kvdb::allocator() == "mimalloc" || kvdb::allocator() == "system");

    db.close();
    CHECK(status_of([&] { db.put("k", "v"); }) == KVDB_INVALID_ARGUMENT);
}

void ttls() {
    auto db = kvdb::db::in_memory();
    db.put("session", "x", 1h);
    auto t = db.ttl("session");
    CHECK(t.found && t.expires && t.left > 59min && t.left <= 1h);
    CHECK(db.persist("session"));
    t = db.ttl("session");
    CHECK(t.found && !t.expires);
    CHECK(!db.ttl("missing").found);
    CHECK(db.expire("session", 30s));
    CHECK(db.ttl("session").expires);
    CHECK(!db.expire("missing", 30s));
    // Sub-millisecond TTLs round up to 1 ms instead of being rejected as 0.
    db.put("blink", "x", 100us);
    std::this_thread::sleep_for(20ms);
    CHECK(!db.get("blink").has_value());
    CHECK(db.put_if_absent("lease", "me", 1h));
    CHECK(status_of([&] { db.put("k", "v", 0ms); }) == KVDB_INVALID_ARGUMENT);
}

void batches_snapshots_and_scans() {
    auto db = kvdb::db::in_memory();
    kvdb::batch b;
    for (int i = 0; i < 10; ++i) {
        std::string k = "n:" + std::to_string(i);
        b.put(k, k);
    }
    b.del("n:5");
    CHECK(b.size() == 11);
    db.write(b);
    b.clear();
    CHECK(b.size() == 0);

    auto snap = db.snap();
    db.put("n:99", "later");
    std::vector<std::string> keys;
    for (auto [key, value] : snap.scan("n:")) {
        CHECK(key == value);
        keys.emplace_back(key);
    }
    CHECK(keys.size() == 9);
    CHECK(keys.front() == "n:0" && keys.back() == "n:9");
    CHECK(!snap.get("n:99").has_value());
    CHECK(db.snap().seq() == snap.seq() + 1);
    CHECK(db.get("n:99").has_value());

    std::vector<std::string> backwards;
    for (auto e : db.scan("n:").reversed()) backwards.emplace_back(e.key);
    CHECK(backwards.size() == 10 && backwards.front() == "n:99" && backwards.back() == "n:0");

    auto it = db.iterate("n:");
    it.seek("n:3");
    CHECK(it.valid() && it.key() == "n:3");
    it.seek_for_prev("n:55");
    CHECK(it.valid() && it.key() == "n:4");
    it.prev();
    CHECK(it.valid() && it.key() == "n:3");

    it.seek_to_first();
    size_t seen = 0;
    for (;;) {
        const auto &pairs = it.next_batch(4);
        if (pairs.empty()) break;
        CHECK(pairs.size() <= 4);
        seen += pairs.size();
    }
    CHECK(seen == 10);

    // Borrowed batches: the same pairs in both directions, pointing into
    // the database.
    it.seek_to_first();
    std::vector<std::string> borrowed;
    for (;;) {
        const auto &pairs = it.next_batch_borrowed(3);
        if (pairs.empty()) break;
        CHECK(pairs.size() <= 3);
        for (const auto &e : pairs) borrowed.emplace_back(e.key);
    }
    CHECK(borrowed.size() == 10 && borrowed.front() == "n:0" && borrowed.back() == "n:99");
    it.seek_to_last();
    const auto &last = it.prev_batch_borrowed(2);
    CHECK(last.size() == 2 && last[0].key == "n:99" && last[0].value == "later");
    CHECK(last[1].key == "n:9" && last[1].value == "n:9");
    CHECK(it.valid() && it.key() == "n:8");

    // A range-for scan reads growing batches: more keys than the first
    // few batches hold, and a loop left early.
    for (int i = 0; i < 300; i++) db.put("m:" + std::to_string(1000 + i), std::to_string(i));
    int walked = 0;
    for (auto [key, value] : db.scan("m:")) {
        CHECK(key == "m:" + std::to_string(1000 + walked) && value == std::to_string(walked));
        walked++;
    }
    CHECK(walked == 300);
    walked = 0;
    for (auto e : db.scan("m:").reversed()) {
        CHECK(e.key == "m:" + std::to_string(1299 - walked));
        if (++walked == 7) break;
    }
    CHECK(walked == 7);

    // A large value does not fit the default batch buffer: it grows.
    db.put("n:big", std::string(200000, 'v'));
    it = db.iterate("n:big");
    it.seek_to_first();
    const auto &big = it.next_batch();
    CHECK(big.size() == 1 && big[0].value.size() == 200000);
}

void transactions() {
    auto db = kvdb::db::in_memory();
    db.put("a", "1");
    {
        auto t = db.begin();
        t.put("b", "2");
        CHECK(t.get("b") == std::optional<std::string>("2"));
        CHECK(!db.get("b").has_value());
        t.savepoint();
        CHECK(t.del("a"));
        CHECK(!t.del("a"));
        CHECK(!t.get("a").has_value());
        CHECK(t.rollback_to_savepoint());
        CHECK(!t.rollback_to_savepoint());
        CHECK(t.get("a") == std::optional<std::string>("1"));
        size_t n = 0;
        for (auto e : t.scan()) n += e.key.size();
        CHECK(n == 2);
        using maybe = std::optional<std::string>;
        CHECK(t.get_many({"a", "b", "missing"}) == std::vector<maybe>({"1", "2", std::nullopt}));
        t.commit();
        CHECK(!t.active());
        CHECK(status_of([&] { t.put("x", "y"); }) == KVDB_INVALID_ARGUMENT);
    }
    CHECK(db.get("b") == std::optional<std::string>("2"));
    {
        auto t = db.begin();
        t.put("dropped", "x");
    }  // destroyed without commit: rolled back
    CHECK(!db.get("dropped").has_value());

    {
        // Keys read together count for validation like single gets.
        auto t = db.begin();
        CHECK(t.get_many({"a", "none"}).size() == 2);
        t.put("c", "3");
        db.put("none", "now");
        CHECK(status_of([&] { t.commit(); }) == KVDB_CONFLICT);
    }

    auto t1 = db.begin();
    auto t2 = db.begin();
    CHECK(t1.get("a").has_value());
    t1.put("a", "t1");
    t2.put("a", "t2");
    t2.commit();
    CHECK(status_of([&] { t1.commit(); }) == KVDB_CONFLICT);
    CHECK(db.get("a") == std::optional<std::string>("t2"));

    // run_transaction: four threads increment one key; every increment
    // commits however often the others win.
    db.put("n", "0");
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; i++)
        threads.emplace_back([&] {
            for (int j = 0; j < 200; j++)
                db.run_transaction([](kvdb::txn &t) { t.put("n", std::to_string(std::stoi(*t.get("n")) + 1)); });
        });
    for (auto &th : threads) th.join();
    CHECK(db.get("n") == std::optional<std::string>("800"));
    bool thrown = false;
    try {
        db.run_transaction([](kvdb::txn &t) {
            t.put("never", "x");
            throw std::runtime_error("abort");
        });
    } catch (const std::runtime_error &e) {
        thrown = std::string(e.what()) == "abort";
    }
    CHECK(thrown);
    // A function that ends its transaction itself: nothing is committed.
    auto commits_itself = [](kvdb::txn &t) {
        t.put("never", "x");
        t.commit();
    };
    auto rolls_back_itself = [](kvdb::txn &t) {
        t.put("never", "x");
        t.rollback();
    };
    CHECK(status_of([&] { db.run_transaction(commits_itself); }) == KVDB_INVALID_ARGUMENT);
    CHECK(status_of([&] { db.run_transaction(rolls_back_itself); }) == KVDB_INVALID_ARGUMENT);
    CHECK(!db.get("never").has_value());
}

void indexes(const std::string &dir) {
    auto by_city = kvdb::index_def::key_field("by_city", ':', 1);
    auto by_age = kvdb::index_def::json_field("by_age", "age");
    auto by_badge = kvdb::index_def::value_bytes("by_badge", 0, 4, KVDB_INDEX_U32_LE);
    by_badge.unique();
    auto by_tag = kvdb::index_def::callback("by_tag", [](std::string_view, std::string_view value,
                                                          kvdb::index_keys &out) {
        // Every comma-separated tag of a "tags=" value is an index key.
        if (value.substr(0, 5) != "tags=") return;
        value.remove_prefix(5);
        while (!value.empty()) {
            size_t comma = value.find(',');
            out.add(value.substr(0, comma));
            if (comma == std::string_view::npos) break;
            value.remove_prefix(comma + 1);
        }
    });

    kvdb::options opts;
    opts.sync(KVDB_SYNC_ALWAYS).add_index(by_city).add_index(by_tag);
    {
        auto db = kvdb::db::open(dir, opts);
        db.create_index(by_age);
        CHECK(db.indexes() == (std::vector<std::string>{"by_city", "by_tag", "by_age"}));
        db.put("user:paris:1", R"({"age": 30})");
        db.put("user:paris:2", R"({"age": 41})");
        db.put("user:rome:3", R"({"age": 30})");
        db.put("post:1", "tags=rust,c++");
        db.put("post:2", "tags=c++");

        std::vector<std::string> paris;
        for (auto e : db.index_equal("by_city", "paris")) paris.emplace_back(e.key);
        CHECK(paris == (std::vector<std::string>{"user:paris:1", "user:paris:2"}));

        size_t thirty = 0;
        for (auto e : db.index_equal("by_age", "30")) {
            CHECK(e.value == R"({"age": 30})");
            ++thirty;
        }
        CHECK(thirty == 2);

        auto snap = db.snap();
        db.put("post:3", "tags=c++,go");
        size_t cpp_then = 0, cpp_now = 0;
        for (auto e : snap.index_equal("by_tag", "c++")) cpp_then += !e.key.empty();
        for (auto e : db.index_equal("by_tag", "c++")) cpp_now += !e.key.empty();
        CHECK(cpp_then == 2 && cpp_now == 3);

        kvdb::index_bounds bounds;
        bounds.lower = "paris";
        bounds.upper = "rome";
        bounds.upper_inclusive = true;
        auto range = db.index_range_of("by_city", bounds);
        std::vector<std::string> both_ends;
        if (range.next()) both_ends.emplace_back(range.current().key);
        if (range.next_back()) both_ends.emplace_back(range.current().key);
        CHECK(both_ends == (std::vector<std::string>{"user:paris:1", "user:rome:3"}));

        size_t p = 0;
        for (auto e : db.index_prefix("by_city", "r")) p += (e.index_key == "rome");
        CHECK(p == 1);

        auto hit = db.index_get("by_city", "rome");
        CHECK(hit && hit->first == "user:rome:3");
        CHECK(!db.index_get("by_city", "oslo").has_value());

        auto badges = kvdb::db::in_memory();
        badges.create_index(by_badge);
        uint32_t badge = 7;
        std::string rec(reinterpret_cast<const char *>(&badge), 4);
        badges.put("badge:a", rec);
        CHECK(status_of([&] { badges.put("badge:b", rec); }) == KVDB_CONSTRAINT);
        CHECK(!badges.get("badge:b").has_value());

        auto t = db.begin();
        t.put("user:oslo:9", "{}");
        size_t oslo = 0;
        for (auto e : t.index_equal("by_city", "oslo")) oslo += (e.key == "user:oslo:9");
        CHECK(oslo == 1);
        t.commit();

        db.drop_index("by_age");
        CHECK(status_of([&] { db.index_equal("by_age", "30"); }) == KVDB_INVALID_ARGUMENT);
    }
    // Reopened with the declared indexes: rebuilt from the data on disk.
    auto db = kvdb::db::open(dir, opts);
    size_t cities = 0;
    for (auto e : db.index_prefix("by_city", "")) cities += (e.key.substr(0, 5) == "user:");
    CHECK(cities == 4);
    CHECK(db.recovery_info().wal_records_applied > 0);
    CHECK(status_of([&] { kvdb::db::open(dir); }) == KVDB_LOCKED);
}

void backup_and_restore(const std::string &dir) {
    auto db = kvdb::db::in_memory();
    db.put("k", "v");
    db.put("lease", "x", 1h);
    db.backup(dir + "/backup");
    db.put("after", "not copied");
    CHECK(status_of([&] { db.backup(dir + "/backup"); }) == KVDB_INVALID_ARGUMENT);
    auto mem = kvdb::db::open_in_memory_from(dir + "/backup");
    CHECK(mem.get("k") == std::optional<std::string>("v"));
    CHECK(!mem.get("after").has_value());
    CHECK(mem.ttl("lease").expires);
    mem.close();
    auto durable = kvdb::db::open(dir + "/backup");
    CHECK(durable.get("k") == std::optional<std::string>("v"));
    CHECK(status_of([&] { kvdb::db::open_in_memory_from(dir + "/backup"); }) == KVDB_LOCKED);
}

void handles_outlive_the_database() {
    auto db = kvdb::db::in_memory();
    db.put("k", "v");
    auto snap = db.snap();
    auto it = db.iterate();
    db.close();
    CHECK(snap.get("k") == std::optional<std::string>("v"));
    it.seek_to_first();
    CHECK(it.valid() && it.key() == "k");
    // A new iterator needs the database: an error, not a dangling handle.
    CHECK(status_of([&] { snap.iterate(); }) == KVDB_INVALID_ARGUMENT);
    CHECK(status_of([&] { snap.index_equal("x", "y"); }) == KVDB_INVALID_ARGUMENT);
}

void threads() {
    auto db = kvdb::db::in_memory();
    std::vector<std::thread> workers;
    for (int t = 0; t < 4; ++t)
        workers.emplace_back([&db] {
            for (int i = 0; i < 250; ++i) db.increment("hits");
        });
    for (auto &t : workers) t.join();
    CHECK(db.get("hits") == std::optional<std::string>("1000"));
}

}  // namespace

int main(int argc, char **argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    try {
        point_operations();
        ttls();
        batches_snapshots_and_scans();
        transactions();
        indexes(argv[1]);
        backup_and_restore(std::string(argv[1]) + "-backups");
        handles_outlive_the_database();
        threads();
    } catch (const kvdb::error &e) {
        std::fprintf(stderr, "unexpected kvdb::error %d: %s\n", e.status(), e.what());
        return 1;
    }
    std::printf("checks: %d failures: %d\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
