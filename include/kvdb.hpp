// kvdb.hpp: a header-only C++17 wrapper of the kvdb C API (kvdb.h).
//
// - Every handle is an RAII object: move-only, released by its destructor
//   (a database is closed, a transaction not committed is rolled back).
// - Keys and values go in as std::string_view (any bytes, NULs included)
//   and come out as std::string copies, or as std::string_view borrowed
//   from an iterator until it moves.
// - Failures throw kvdb::error, which carries the KVDB_* status and the
//   library's detail. What is an answer rather than a failure is returned:
//   an absent key is an empty std::optional, a put_if_absent that found the
//   key is false, a compare_and_swap that saw another value says so.
// - Iteration works with range-for: `for (auto [k, v] : db.scan("user:"))`.
//
// Threads: a kvdb::db may be used by many threads at once; snapshots may be
// shared for reading; an iterator, a batch or a transaction belongs to one
// thread at a time. Handles may outlive the database they came from (they
// keep reading what they saw).
//
// Link with -lkvdb (pkg-config kvdb); compile as C++17 or later.
#ifndef KVDB_HPP
#define KVDB_HPP

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "kvdb.h"

namespace kvdb {

/// A failed call: the KVDB_* status and the library's description.
class error : public std::runtime_error {
  public:
    error(kvdb_status_t status, const std::string &what)
        : std::runtime_error(what), status_(status) {}
    /// The KVDB_* status code.
    kvdb_status_t status() const noexcept { return status_; }

  private:
    kvdb_status_t status_;
};

namespace detail {

/// The calling thread's detail of its last failure.
inline std::string last_error() {
    std::string text(kvdb_last_error(nullptr, 0), '\0');
    if (!text.empty()) kvdb_last_error(text.data(), text.size() + 1);
    return text;
}

/// Throws kvdb::error unless `status` is KVDB_OK.
inline void check(kvdb_status_t status) {
    if (status == KVDB_OK) return;
    std::string detail = last_error();
    std::string what = kvdb_strerror(status);
    if (!detail.empty()) what += ": " + detail;
    throw error(status, what);
}

/// Throws kvdb::error unless `status` is KVDB_OK or `expected`; true for OK.
inline bool check_or(kvdb_status_t status, kvdb_status_t expected) {
    if (status == expected) return false;
    check(status);
    return true;
}

/// Takes ownership of a library-allocated buffer and copies it out.
inline std::string take(void *ptr, size_t len) {
    std::unique_ptr<void, void (*)(void *)> owned(ptr, kvdb_free);
    return std::string(static_cast<const char *>(ptr), len);
}

/// A TTL in whole milliseconds, rounded up (never to 0 for a positive TTL).
inline uint64_t ttl_ms(std::chrono::nanoseconds ttl) {
    if (ttl.count() <= 0) return 0;  // the library rejects it
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(ttl);
    return static_cast<uint64_t>(ms.count());
}

/// Runs a kvdb_multi_get-like `call(lookups, n, buf, cap)` over `keys`
/// (any range of what converts to std::string_view): their values in
/// order, nullopt for a key not found. If a value did not fit in the
/// buffer, the whole call is made again with room for every value, so that
/// all of them come from one moment.
template <class Call, class Keys>
std::vector<std::optional<std::string>> get_many(Call &&call, const Keys &keys) {
    std::vector<kvdb_lookup_t> lookups;
    for (const auto &key : keys) {
        std::string_view k(key);
        kvdb_lookup_t lookup{};
        lookup.key = k.data();
        lookup.klen = k.size();
        lookups.push_back(lookup);
    }
    std::vector<char> buf(std::max<size_t>(4096, 128 * lookups.size()));
    for (;;) {
        check(call(lookups.data(), lookups.size(), buf.data(), buf.size()));
        size_t need = 0;
        bool fits = true;
        for (const auto &l : lookups) {
            fits = fits && l.status != KVDB_BUFFER_TOO_SMALL;
            need += l.vlen;
        }
        if (fits) break;
        buf.resize(need + 4096);
    }
    std::vector<std::optional<std::string>> values;
    values.reserve(lookups.size());
    for (const auto &l : lookups) {
        if (!check_or(l.status, KVDB_NOT_FOUND))
            values.emplace_back(std::nullopt);
        else if (l.vlen == 0)
            values.emplace_back(std::string());
        else
            values.emplace_back(std::string(static_cast<const char *>(l.val), l.vlen));
    }
    return values;
}

template <class T, void (*Free)(T *)>
struct deleter {
    void operator()(T *p) const noexcept { Free(p); }
};

/// The database handle, shared with the snapshots made from it so that
/// they can tell it was closed (making an iterator from a snapshot needs
/// the database open).
struct db_state {
    kvdb_t *handle = nullptr;

    kvdb_t *live() const {
        if (handle == nullptr) throw error(KVDB_INVALID_ARGUMENT, "the database is closed");
        return handle;
    }
};

}  // namespace detail

/// One key and value seen by a scan, borrowed until the scan moves.
struct entry {
    std::string_view key;
    std::string_view value;
};

/// One record seen by an index query, borrowed until the query moves.
struct index_entry {
    std::string_view index_key;  // in its ordered form (docs/FORMAT.md)
    std::string_view key;
    std::string_view value;
};

/// What kvdb_ttl says of a key.
struct key_ttl {
    bool found = false;    // the key holds a live value
    bool expires = false;  // it has a TTL
    std::chrono::milliseconds left{0};
};

/// The outcome of compare_and_swap.
enum class cas_result { swapped, mismatch, absent };

/// A cursor over keys in order (kvdb_iter_t). Starts unpositioned: seek
/// first. key() and value() are borrowed until the cursor moves.
class iterator {
  public:
    explicit iterator(kvdb_iter_t *it) noexcept : it_(it) {}

    void seek_to_first() noexcept { kvdb_iter_seek_to_first(it_.get()); }
    void seek_to_last() noexcept { kvdb_iter_seek_to_last(it_.get()); }
    /// The first key >= `key`.
    void seek(std::string_view key) noexcept { kvdb_iter_seek(it_.get(), key.data(), key.size()); }
    /// The last key <= `key`.
    void seek_for_prev(std::string_view key) noexcept {
        kvdb_iter_seek_for_prev(it_.get(), key.data(), key.size());
    }
    bool valid() const noexcept { return kvdb_iter_valid(it_.get()); }
    void next() noexcept { kvdb_iter_next(it_.get()); }
    void prev() noexcept { kvdb_iter_prev(it_.get()); }

    std::string_view key() const {
        const void *p = nullptr;
        size_t n = 0;
        detail::check(kvdb_iter_key(it_.get(), &p, &n));
        return view(p, n);
    }
    std::string_view value() const {
        const void *p = nullptr;
        size_t n = 0;
        detail::check(kvdb_iter_value(it_.get(), &p, &n));
        return view(p, n);
    }

    /// Reads up to `max` pairs from here on into an internal buffer in one
    /// call (kvdb_iter_next_batch) and moves past them; empty at the end.
    /// The views stay valid until the next call of next_batch.
    const std::vector<entry> &next_batch(size_t max = 256, size_t bytes = 64 * 1024) {
        pairs_.resize(max == 0 ? 1 : max);
        if (buf_.size() < bytes) buf_.resize(bytes);
        for (;;) {
            size_t n = 0;
            kvdb_status_t s = kvdb_iter_next_batch(it_.get(), pairs_.data(), pairs_.size(),
                                                   buf_.data(), buf_.size(), &n);
            if (s == KVDB_BUFFER_TOO_SMALL) {
                buf_.resize(buf_.size() * 2 + key().size() + value().size());
                continue;
            }
            detail::check(s);
            return described(n);
        }
    }

    /// Reads up to `max` pairs from here on in one call without copying
    /// them (kvdb_iter_next_batch_borrowed) and moves past them; empty at
    /// the end. The views are borrowed until the iterator moves again.
    const std::vector<entry> &next_batch_borrowed(size_t max = 256) {
        return borrowed_batch(kvdb_iter_next_batch_borrowed, max);
    }
    /// The same backwards, from here to the first key
    /// (kvdb_iter_prev_batch_borrowed).
    const std::vector<entry> &prev_batch_borrowed(size_t max = 256) {
        return borrowed_batch(kvdb_iter_prev_batch_borrowed, max);
    }

    kvdb_iter_t *get() const noexcept { return it_.get(); }

  private:
    static std::string_view view(const void *p, size_t n) {
        return n == 0 ? std::string_view() : std::string_view(static_cast<const char *>(p), n);
    }
    const std::vector<entry> &borrowed_batch(kvdb_status_t (*read)(kvdb_iter_t *, kvdb_pair_t *,
                                                                   size_t, size_t *),
                                             size_t max) {
        pairs_.resize(max == 0 ? 1 : max);
        size_t n = 0;
        detail::check(read(it_.get(), pairs_.data(), pairs_.size(), &n));
        return described(n);
    }
    /// The first `n` pairs of the last batch, as entries.
    const std::vector<entry> &described(size_t n) {
        batch_.clear();
        for (size_t i = 0; i < n; ++i) {
            batch_.push_back(
                {view(pairs_[i].key, pairs_[i].klen), view(pairs_[i].val, pairs_[i].vlen)});
        }
        return batch_;
    }
    std::unique_ptr<kvdb_iter_t, detail::deleter<kvdb_iter_t, kvdb_iter_free>> it_;
    std::vector<kvdb_pair_t> pairs_;
    std::vector<char> buf_;
    std::vector<entry> batch_;
};

/// A whole scan for range-for: `for (auto [key, value] : db.scan(prefix))`.
/// Forward, from the first key; `reversed()` walks from the last. Reads
/// borrowed batches of 4 pairs, then twice as many each time up to 64: an
/// entry is borrowed until the loop moves past it.
class scan_range {
  public:
    explicit scan_range(iterator it, bool reverse = false) : it_(std::move(it)), reverse_(reverse) {}

    class cursor {
      public:
        using iterator_category = std::input_iterator_tag;
        using value_type = entry;
        using difference_type = std::ptrdiff_t;
        using pointer = const entry *;
        using reference = entry;

        cursor() = default;
        cursor(kvdb::iterator *it, bool reverse) : it_(it), reverse_(reverse) { fill(); }
        entry operator*() const { return (*batch_)[at_]; }
        cursor &operator++() {
            if (++at_ == batch_->size()) fill();
            return *this;
        }
        bool operator==(const cursor &o) const { return done() == o.done(); }
        bool operator!=(const cursor &o) const { return !(*this == o); }

      private:
        void fill() {
            batch_ = reverse_ ? &it_->prev_batch_borrowed(want_) : &it_->next_batch_borrowed(want_);
            at_ = 0;
            want_ = want_ < 64 ? want_ * 2 : 64;
        }
        bool done() const { return batch_ == nullptr || batch_->empty(); }
        kvdb::iterator *it_ = nullptr;
        bool reverse_ = false;
        const std::vector<entry> *batch_ = nullptr;
        size_t at_ = 0;
        size_t want_ = 4;
    };

    cursor begin() {
        if (reverse_) it_.seek_to_last();
        else it_.seek_to_first();
        return cursor(&it_, reverse_);
    }
    cursor end() { return cursor(); }
    /// The same scan from the last key to the first.
    scan_range reversed() && { return scan_range(std::move(it_), !reverse_); }

  private:
    kvdb::iterator it_;
    bool reverse_;
};

/// The results of an index query (kvdb_index_iter_t), for range-for or by
/// hand with next() / next_back(). Entries are borrowed until it moves.
class index_range {
  public:
    explicit index_range(kvdb_index_iter_t *it) noexcept : it_(it) {}

    /// Moves to the next record in ascending index order; false at the end.
    bool next() { return detail::check_or(kvdb_index_iter_next(it_.get()), KVDB_NOT_FOUND); }
    /// Moves to the next record from the back; false at the end.
    bool next_back() {
        return detail::check_or(kvdb_index_iter_next_back(it_.get()), KVDB_NOT_FOUND);
    }
    /// The record the query stands on.
    index_entry current() const {
        index_entry e;
        const void *p = nullptr;
        size_t n = 0;
        detail::check(kvdb_index_iter_index_key(it_.get(), &p, &n));
        e.index_key = view(p, n);
        detail::check(kvdb_index_iter_key(it_.get(), &p, &n));
        e.key = view(p, n);
        detail::check(kvdb_index_iter_value(it_.get(), &p, &n));
        e.value = view(p, n);
        return e;
    }

    class cursor {
      public:
        using iterator_category = std::input_iterator_tag;
        using value_type = index_entry;
        using difference_type = std::ptrdiff_t;
        using pointer = const index_entry *;
        using reference = index_entry;

        cursor() = default;
        explicit cursor(index_range *r) : r_(r) { advance(); }
        index_entry operator*() const { return r_->current(); }
        cursor &operator++() {
            advance();
            return *this;
        }
        bool operator==(const cursor &o) const { return r_ == o.r_; }
        bool operator!=(const cursor &o) const { return r_ != o.r_; }

      private:
        void advance() {
            if (r_ != nullptr && !r_->next()) r_ = nullptr;
        }
        index_range *r_ = nullptr;
    };

    /// Starts taking records from the front (call once).
    cursor begin() { return cursor(this); }
    cursor end() { return cursor(); }

  private:
    static std::string_view view(const void *p, size_t n) {
        return n == 0 ? std::string_view() : std::string_view(static_cast<const char *>(p), n);
    }
    std::unique_ptr<kvdb_index_iter_t,
                    detail::deleter<kvdb_index_iter_t, kvdb_index_iter_free>>
        it_;
};

/// The bounds of an index range query.
struct index_bounds {
    std::optional<std::string_view> lower;  // none: from the first entry
    std::optional<std::string_view> upper;  // none: to the last entry
    bool lower_exclusive = false;
    bool upper_inclusive = false;

    uint32_t flags() const {
        return (lower_exclusive ? KVDB_INDEX_LOWER_EXCLUSIVE : 0u) |
               (upper_inclusive ? KVDB_INDEX_UPPER_INCLUSIVE : 0u);
    }
};

namespace detail {

/// The three index queries on a view: `db` now (`snap` NULL) or a snapshot.
struct view_queries {
    kvdb_t *db;
    const kvdb_snapshot_t *snap;

    index_range equal(const std::string &index, std::string_view ikey) const {
        kvdb_index_iter_t *it = nullptr;
        check(kvdb_index_iter_equal(db, snap, index.c_str(), ikey.data(), ikey.size(), &it));
        return index_range(it);
    }
    index_range prefix(const std::string &index, std::string_view p) const {
        kvdb_index_iter_t *it = nullptr;
        check(kvdb_index_iter_prefix(db, snap, index.c_str(), p.data(), p.size(), &it));
        return index_range(it);
    }
    index_range range(const std::string &index, const index_bounds &b) const {
        kvdb_index_iter_t *it = nullptr;
        check(kvdb_index_iter_range(db, snap, index.c_str(), b.lower ? b.lower->data() : nullptr,
                                    b.lower ? b.lower->size() : 0, b.upper ? b.upper->data() : nullptr,
                                    b.upper ? b.upper->size() : 0, b.flags(), &it));
        return index_range(it);
    }
};

}  // namespace detail

/// The index keys a callback index gives a record (kvdb_index_keys_t).
class index_keys {
  public:
    explicit index_keys(kvdb_index_keys_t *keys) noexcept : keys_(keys) {}
    /// Adds one index key for the record.
    void add(std::string_view ikey) { detail::check(kvdb_index_keys_add(keys_, ikey.data(), ikey.size())); }

  private:
    kvdb_index_keys_t *keys_;
};

/// The extractor of a callback index. It must be deterministic, must not
/// call into the database, and must not throw (an exception is caught and
/// the record gets no index key).
using index_fn = std::function<void(std::string_view key, std::string_view value, index_keys &out)>;

/// An index definition (kvdb_index_def_t); copied by the calls that take it.
class index_def {
  public:
    /// Field `field` (from 0) of keys split at byte `delimiter`.
    static index_def key_field(const std::string &name, char delimiter, uint32_t field) {
        kvdb_index_def_t *d = nullptr;
        detail::check(kvdb_index_def_new_key_field(name.c_str(), static_cast<uint8_t>(delimiter), field, &d));
        return index_def(d);
    }
    /// Bytes [offset, offset+len) of values, read as `interpretation`
    /// (KVDB_INDEX_BYTES or one of the KVDB_INDEX_{U,I}{32,64}_{LE,BE}).
    static index_def value_bytes(const std::string &name, size_t offset, size_t len, int interpretation) {
        kvdb_index_def_t *d = nullptr;
        detail::check(kvdb_index_def_new_value_bytes(name.c_str(), offset, len, interpretation, &d));
        return index_def(d);
    }
    /// Top-level field `field` of values that are JSON objects.
    static index_def json_field(const std::string &name, const std::string &field) {
        kvdb_index_def_t *d = nullptr;
        detail::check(kvdb_index_def_new_json_field(name.c_str(), field.c_str(), &d));
        return index_def(d);
    }
    /// Index keys computed by `fn` (see index_fn).
    static index_def callback(const std::string &name, index_fn fn) {
        auto *ctx = new index_fn(std::move(fn));
        kvdb_index_def_t *d = nullptr;
        kvdb_status_t s = kvdb_index_def_new_callback(name.c_str(), &extract, ctx, &release, &d);
        if (s != KVDB_OK) {
            delete ctx;
            detail::check(s);
        }
        return index_def(d);
    }

    /// Makes the index unique: a write giving a second record the same
    /// index key fails with KVDB_CONSTRAINT.
    index_def &unique() {
        detail::check(kvdb_index_def_set_unique(def_.get()));
        return *this;
    }
    const kvdb_index_def_t *get() const noexcept { return def_.get(); }

  private:
    explicit index_def(kvdb_index_def_t *d) noexcept : def_(d) {}
    static void extract(void *ctx, const void *key, size_t klen, const void *val, size_t vlen,
                        kvdb_index_keys_t *out) noexcept {
        try {
            index_keys keys(out);
            (*static_cast<index_fn *>(ctx))(
                std::string_view(static_cast<const char *>(key), klen),
                std::string_view(static_cast<const char *>(val), vlen), keys);
        } catch (...) {
        }
    }
    static void release(void *ctx) noexcept { delete static_cast<index_fn *>(ctx); }
    std::unique_ptr<kvdb_index_def_t, detail::deleter<kvdb_index_def_t, kvdb_index_def_free>> def_;
};

/// Options of kvdb::db::open (kvdb_options_t).
class options {
  public:
    options() : opts_(kvdb_options_new()) {
        if (!opts_) throw error(KVDB_INTERNAL, "kvdb_options_new failed");
    }
    /// KVDB_SYNC_NEVER, KVDB_SYNC_INTERVAL (every `interval`) or KVDB_SYNC_ALWAYS.
    options &sync(int mode, std::chrono::milliseconds interval = std::chrono::milliseconds(0)) {
        detail::check(kvdb_options_set_sync(opts_.get(), mode, static_cast<uint32_t>(interval.count())));
        return *this;
    }
    /// One of the KVDB_RECOVERY_* modes.
    options &recovery_mode(int mode) {
        detail::check(kvdb_options_set_recovery_mode(opts_.get(), mode));
        return *this;
    }
    options &checkpoint_bytes(uint64_t bytes) {
        detail::check(kvdb_options_set_checkpoint_bytes(opts_.get(), bytes));
        return *this;
    }
    options &snapshots_to_keep(uint32_t count) {
        detail::check(kvdb_options_set_snapshots_to_keep(opts_.get(), count));
        return *this;
    }
    options &background_maintenance(bool enabled) {
        detail::check(kvdb_options_set_background_maintenance(opts_.get(), enabled ? 1 : 0));
        return *this;
    }
    /// Declares an index that open builds from the recovered data.
    options &add_index(const index_def &def) {
        detail::check(kvdb_options_add_index(opts_.get(), def.get()));
        return *this;
    }
    const kvdb_options_t *get() const noexcept { return opts_.get(); }

  private:
    std::unique_ptr<kvdb_options_t, detail::deleter<kvdb_options_t, kvdb_options_free>> opts_;
};

/// Writes applied together by db::write (kvdb_batch_t); reusable.
class batch {
  public:
    batch() : b_(kvdb_batch_new()) {
        if (!b_) throw error(KVDB_INTERNAL, "kvdb_batch_new failed");
    }
    batch &put(std::string_view key, std::string_view value) {
        detail::check(kvdb_batch_put(b_.get(), key.data(), key.size(), value.data(), value.size()));
        return *this;
    }
    batch &put(std::string_view key, std::string_view value, std::chrono::nanoseconds ttl) {
        detail::check(kvdb_batch_put_ttl(b_.get(), key.data(), key.size(), value.data(), value.size(),
                                         detail::ttl_ms(ttl)));
        return *this;
    }
    batch &del(std::string_view key) {
        detail::check(kvdb_batch_delete(b_.get(), key.data(), key.size()));
        return *this;
    }
    void clear() noexcept { kvdb_batch_clear(b_.get()); }
    size_t size() const noexcept { return kvdb_batch_count(b_.get()); }
    const kvdb_batch_t *get() const noexcept { return b_.get(); }

  private:
    std::unique_ptr<kvdb_batch_t, detail::deleter<kvdb_batch_t, kvdb_batch_free>> b_;
};

/// A consistent, read-only view of the database at one moment. get() works
/// after the database is closed; making iterators and index queries from
/// it needs the database open (kvdb::error otherwise).
class snapshot {
  public:
    snapshot(std::shared_ptr<const detail::db_state> db, kvdb_snapshot_t *s) noexcept
        : db_(std::move(db)), s_(s) {}

    std::optional<std::string> get(std::string_view key) const {
        void *v = nullptr;
        size_t n = 0;
        if (!detail::check_or(kvdb_snapshot_get(s_.get(), key.data(), key.size(), &v, &n), KVDB_NOT_FOUND))
            return std::nullopt;
        return detail::take(v, n);
    }
    /// The values of `keys` at the snapshot's moment, in order (nullopt
    /// for a key not found): as db::get_many.
    template <class Keys>
    std::vector<std::optional<std::string>> get_many(const Keys &keys) const {
        return detail::get_many(
            [&](kvdb_lookup_t *l, size_t n, char *buf, size_t cap) {
                return kvdb_snapshot_multi_get(s_.get(), l, n, buf, cap);
            },
            keys);
    }
    std::vector<std::optional<std::string>> get_many(std::initializer_list<std::string_view> keys) const {
        return get_many<std::initializer_list<std::string_view>>(keys);
    }
    /// An iterator over keys starting with `prefix` (all keys if empty).
    kvdb::iterator iterate(std::string_view prefix = {}) const {
        kvdb_iter_t *it = nullptr;
        detail::check(kvdb_iter_new_prefix(db_->live(), s_.get(), prefix.data(), prefix.size(), &it));
        return kvdb::iterator(it);
    }
    scan_range scan(std::string_view prefix = {}) const { return scan_range(iterate(prefix)); }
    index_range index_equal(const std::string &index, std::string_view ikey) const {
        return queries().equal(index, ikey);
    }
    index_range index_prefix(const std::string &index, std::string_view prefix) const {
        return queries().prefix(index, prefix);
    }
    index_range index_range_of(const std::string &index, const index_bounds &b) const {
        return queries().range(index, b);
    }
    /// The sequence number the snapshot reads at: it holds every write
    /// numbered up to it and none after.
    uint64_t seq() const {
        uint64_t n = 0;
        detail::check(kvdb_snapshot_seq(s_.get(), &n));
        return n;
    }
    const kvdb_snapshot_t *get() const noexcept { return s_.get(); }

  private:
    detail::view_queries queries() const { return {db_->live(), s_.get()}; }
    std::shared_ptr<const detail::db_state> db_;
    std::unique_ptr<kvdb_snapshot_t, detail::deleter<kvdb_snapshot_t, kvdb_snapshot_free>> s_;
};

/// A serializable transaction (kvdb_txn_t): reads see the database as it
/// was at begin plus the transaction's own writes; commit applies every
/// write at once or throws kvdb::error with KVDB_CONFLICT. Destroyed
/// without commit, it rolls back.
class txn {
  public:
    explicit txn(kvdb_txn_t *t) noexcept : t_(t) {}
    txn(txn &&o) noexcept : t_(std::exchange(o.t_, nullptr)) {}
    txn &operator=(txn &&o) noexcept {
        if (this != &o) {
            rollback();
            t_ = std::exchange(o.t_, nullptr);
        }
        return *this;
    }
    txn(const txn &) = delete;
    txn &operator=(const txn &) = delete;
    ~txn() { rollback(); }

    std::optional<std::string> get(std::string_view key) {
        void *v = nullptr;
        size_t n = 0;
        if (!detail::check_or(kvdb_txn_get(live(), key.data(), key.size(), &v, &n), KVDB_NOT_FOUND))
            return std::nullopt;
        return detail::take(v, n);
    }
    /// The values of `keys` as the transaction sees them, in order
    /// (nullopt for a key not found), read in one call
    /// (kvdb_txn_multi_get); every key not answered by the transaction's
    /// own write counts for commit validation.
    template <class Keys>
    std::vector<std::optional<std::string>> get_many(const Keys &keys) {
        return detail::get_many(
            [&](kvdb_lookup_t *l, size_t n, char *buf, size_t cap) {
                return kvdb_txn_multi_get(live(), l, n, buf, cap);
            },
            keys);
    }
    std::vector<std::optional<std::string>> get_many(std::initializer_list<std::string_view> keys) {
        return get_many<std::initializer_list<std::string_view>>(keys);
    }
    void put(std::string_view key, std::string_view value) {
        detail::check(kvdb_txn_put(live(), key.data(), key.size(), value.data(), value.size()));
    }
    void put(std::string_view key, std::string_view value, std::chrono::nanoseconds ttl) {
        detail::check(kvdb_txn_put_ttl(live(), key.data(), key.size(), value.data(), value.size(),
                                       detail::ttl_ms(ttl)));
    }
    /// Deletes `key` at commit; false if it was not live as the
    /// transaction sees it (nothing is written then).
    bool del(std::string_view key) {
        return detail::check_or(kvdb_txn_delete(live(), key.data(), key.size()), KVDB_NOT_FOUND);
    }
    /// Marks the point rollback_to_savepoint returns to (they nest).
    void savepoint() { detail::check(kvdb_txn_savepoint(live())); }
    /// Undoes the writes since the newest savepoint; false if there is none.
    bool rollback_to_savepoint() {
        return detail::check_or(kvdb_txn_rollback_to_savepoint(live()), KVDB_NOT_FOUND);
    }
    /// An iterator over the transaction's view (its own writes included).
    kvdb::iterator iterate(std::string_view prefix = {}) {
        kvdb_iter_t *it = nullptr;
        detail::check(kvdb_txn_iter_new_prefix(live(), prefix.data(), prefix.size(), &it));
        return kvdb::iterator(it);
    }
    scan_range scan(std::string_view prefix = {}) { return scan_range(iterate(prefix)); }
    index_range index_equal(const std::string &index, std::string_view ikey) {
        kvdb_index_iter_t *it = nullptr;
        detail::check(kvdb_txn_index_iter_equal(live(), index.c_str(), ikey.data(), ikey.size(), &it));
        return index_range(it);
    }
    index_range index_prefix(const std::string &index, std::string_view prefix) {
        kvdb_index_iter_t *it = nullptr;
        detail::check(kvdb_txn_index_iter_prefix(live(), index.c_str(), prefix.data(), prefix.size(), &it));
        return index_range(it);
    }
    index_range index_range_of(const std::string &index, const index_bounds &b) {
        kvdb_index_iter_t *it = nullptr;
        detail::check(kvdb_txn_index_iter_range(live(), index.c_str(), b.lower ? b.lower->data() : nullptr,
                                                b.lower ? b.lower->size() : 0,
                                                b.upper ? b.upper->data() : nullptr,
                                                b.upper ? b.upper->size() : 0, b.flags(), &it));
        return index_range(it);
    }
    /// Applies the writes atomically; throws kvdb::error (KVDB_CONFLICT if
    /// another writer got in the way). The transaction is over either way.
    void commit() { detail::check(kvdb_txn_commit(std::exchange(t_, nullptr))); }
    /// Discards the writes; the transaction is over. No-op once over.
    void rollback() noexcept { kvdb_txn_rollback(std::exchange(t_, nullptr)); }
    /// False once committed or rolled back.
    bool active() const noexcept { return t_ != nullptr; }

  private:
    friend class db;
    kvdb_txn_t *live() const {
        if (t_ == nullptr) throw error(KVDB_INVALID_ARGUMENT, "the transaction is over");
        return t_;
    }
    /// Gives a handle lent by kvdb_txn_run back without ending it.
    void release_lent() noexcept { t_ = nullptr; }
    kvdb_txn_t *t_;
};

/// An open database. Closed by its destructor, or by close() to see errors.
class db {
  public:
    /// Opens the database in directory `path`, created if missing; ":memory:"
    /// opens one in memory.
    static db open(const std::string &path) { return open_with(path.c_str(), nullptr); }
    static db open(const std::string &path, const options &opts) { return open_with(path.c_str(), opts.get()); }
    /// An in-memory database that touches no file.
    static db in_memory() { return open_with(nullptr, nullptr); }
    static db in_memory(const options &opts) { return open_with(nullptr, opts.get()); }
    /// An in-memory database holding the contents of a backup or database
    /// directory, read without writing or repairing anything there
    /// (KVDB_LOCKED if it is open elsewhere); it then touches no file.
    static db open_in_memory_from(const std::string &path) { return load(path, nullptr); }
    static db open_in_memory_from(const std::string &path, const options &opts) { return load(path, opts.get()); }

    db(db &&o) noexcept = default;
    db &operator=(db &&o) noexcept {
        if (this != &o) {
            release();
            st_ = std::move(o.st_);
        }
        return *this;
    }
    db(const db &) = delete;
    db &operator=(const db &) = delete;
    ~db() { release(); }

    /// Closes now (the destructor would too, without reporting errors).
    void close() { detail::check(kvdb_close(st_ ? std::exchange(st_->handle, nullptr) : nullptr)); }
    kvdb_t *get() const noexcept { return st_ ? st_->handle : nullptr; }

    void put(std::string_view key, std::string_view value) {
        detail::check(kvdb_put(live(), key.data(), key.size(), value.data(), value.size()));
    }
    /// Stores `value`, expiring after `ttl` (rounded up to whole ms).
    void put(std::string_view key, std::string_view value, std::chrono::nanoseconds ttl) {
        detail::check(kvdb_put_ttl(live(), key.data(), key.size(), value.data(), value.size(), detail::ttl_ms(ttl)));
    }
    std::optional<std::string> get(std::string_view key) {
        void *v = nullptr;
        size_t n = 0;
        if (!detail::check_or(kvdb_get(live(), key.data(), key.size(), &v, &n), KVDB_NOT_FOUND))
            return std::nullopt;
        return detail::take(v, n);
    }
    /// The values of `keys` (any range of what converts to
    /// std::string_view) in order, nullopt for a key absent or expired:
    /// all read at one moment in one call (kvdb_multi_get), which overlaps
    /// the reads' memory accesses.
    template <class Keys>
    std::vector<std::optional<std::string>> get_many(const Keys &keys) {
        kvdb_t *h = live();
        return detail::get_many(
            [h](kvdb_lookup_t *l, size_t n, char *buf, size_t cap) { return kvdb_multi_get(h, l, n, buf, cap); },
            keys);
    }
    std::vector<std::optional<std::string>> get_many(std::initializer_list<std::string_view> keys) {
        return get_many<std::initializer_list<std::string_view>>(keys);
    }
    /// Copies the value into `buf` without allocating; the value's size, or
    /// nullopt if absent. If the value is larger than `buf`, nothing is
    /// copied and the size returned is larger than buf.size().
    std::optional<size_t> get_into(std::string_view key, char *buf, size_t cap) {
        size_t n = 0;
        kvdb_status_t s = kvdb_get_into(live(), key.data(), key.size(), buf, cap, &n);
        if (s == KVDB_BUFFER_TOO_SMALL) return n;
        if (!detail::check_or(s, KVDB_NOT_FOUND)) return std::nullopt;
        return n;
    }
    /// Deletes `key`; false if it was absent.
    bool del(std::string_view key) {
        return detail::check_or(kvdb_delete(live(), key.data(), key.size()), KVDB_NOT_FOUND);
    }
    bool exists(std::string_view key) {
        return detail::check_or(kvdb_exists(live(), key.data(), key.size()), KVDB_NOT_FOUND);
    }
    key_ttl ttl(std::string_view key) {
        int64_t left = 0;
        key_ttl r;
        r.found = detail::check_or(kvdb_ttl(live(), key.data(), key.size(), &left), KVDB_NOT_FOUND);
        r.expires = r.found && left >= 0;
        r.left = std::chrono::milliseconds(r.expires ? left : 0);
        return r;
    }
    /// Gives a live key a TTL; false if the key is absent.
    bool expire(std::string_view key, std::chrono::nanoseconds ttl) {
        return detail::check_or(kvdb_expire(live(), key.data(), key.size(), detail::ttl_ms(ttl)), KVDB_NOT_FOUND);
    }
    /// Removes a key's TTL; false if the key is absent.
    bool persist(std::string_view key) {
        return detail::check_or(kvdb_persist(live(), key.data(), key.size()), KVDB_NOT_FOUND);
    }
    /// Stores `value` only if `key` is absent; false if it was present.
    bool put_if_absent(std::string_view key, std::string_view value) {
        return detail::check_or(kvdb_put_if_absent(live(), key.data(), key.size(), value.data(), value.size()),
                                KVDB_EXISTS);
    }
    bool put_if_absent(std::string_view key, std::string_view value, std::chrono::nanoseconds ttl) {
        return detail::check_or(kvdb_put_if_absent_ttl(live(), key.data(), key.size(), value.data(),
                                                       value.size(), detail::ttl_ms(ttl)),
                                KVDB_EXISTS);
    }
    cas_result compare_and_swap(std::string_view key, std::string_view expected, std::string_view value) {
        kvdb_status_t s = kvdb_compare_and_swap(live(), key.data(), key.size(), expected.data(), expected.size(),
                                                value.data(), value.size());
        if (s == KVDB_CONFLICT) return cas_result::mismatch;
        if (s == KVDB_NOT_FOUND) return cas_result::absent;
        detail::check(s);
        return cas_result::swapped;
    }
    /// Adds `delta` to the decimal integer at `key` (absent is 0); the new value.
    int64_t increment(std::string_view key, int64_t delta = 1) {
        int64_t out = 0;
        detail::check(kvdb_increment(live(), key.data(), key.size(), delta, &out));
        return out;
    }
    void write(const batch &b) { detail::check(kvdb_write(live(), b.get())); }
    /// Writes a consistent copy of the database as of one moment into the
    /// new or empty directory `path` (one snapshot file, which opens as a
    /// durable database). Other threads go on writing meanwhile.
    void backup(const std::string &path) { detail::check(kvdb_backup(live(), path.c_str())); }
    void sync() { detail::check(kvdb_sync(live())); }
    void checkpoint() { detail::check(kvdb_checkpoint(live())); }
    void collect_garbage() { detail::check(kvdb_collect_garbage(live())); }
    kvdb_stats_t stats() {
        kvdb_stats_t s{};
        detail::check(kvdb_stats(live(), &s));
        return s;
    }
    kvdb_recovery_t recovery_info() {
        kvdb_recovery_t r{};
        r.size = sizeof r;
        detail::check(kvdb_recovery_info(live(), &r));
        return r;
    }
    std::string recovery_message() {
        std::string text(kvdb_recovery_message(live(), nullptr, 0), '\0');
        if (!text.empty()) kvdb_recovery_message(live(), text.data(), text.size() + 1);
        return text;
    }

    snapshot snap() {
        kvdb_snapshot_t *s = nullptr;
        detail::check(kvdb_snapshot_new(live(), &s));
        return snapshot(st_, s);
    }
    txn begin() {
        kvdb_txn_t *t = nullptr;
        detail::check(kvdb_txn_begin(live(), &t));
        return txn(t);
    }
    /// Calls `f(kvdb::txn &)` in a transaction and commits it, retrying the
    /// whole transaction when the commit conflicts, until it commits
    /// (kvdb_txn_run): before each retry the library waits for the writes
    /// it lost to, and its last retry runs `f` holding the write lock, so
    /// writers that keep winning cannot starve it. An exception from `f`
    /// rolls back and is rethrown. `f` must not commit, roll back or keep
    /// its txn (the run then throws KVDB_INVALID_ARGUMENT, committing
    /// nothing). During the last retry other writes wait, and a write
    /// through this db from inside `f` throws KVDB_INVALID_ARGUMENT.
    template <class F>
    void run_transaction(F &&f) {
        using fn_type = std::remove_reference_t<F>;
        struct run_state {
            fn_type *f;
            std::exception_ptr error;
        } state{&f, nullptr};
        kvdb_status_t status = kvdb_txn_run(
            live(),
            [](kvdb_txn_t *t, void *p) -> kvdb_status_t {
                auto *state = static_cast<run_state *>(p);
                txn lent(t);
                kvdb_status_t result = KVDB_OK;
                state->error = nullptr;
                try {
                    (*state->f)(lent);
                } catch (...) {  // must not unwind through the library
                    state->error = std::current_exception();
                    result = KVDB_INTERNAL;
                }
                lent.release_lent();
                return result;
            },
            &state);
        if (state.error) std::rethrow_exception(state.error);
        detail::check(status);
    }
    /// An iterator over keys starting with `prefix` (all keys if empty), as
    /// of now.
    kvdb::iterator iterate(std::string_view prefix = {}) {
        kvdb_iter_t *it = nullptr;
        detail::check(kvdb_iter_new_prefix(live(), nullptr, prefix.data(), prefix.size(), &it));
        return kvdb::iterator(it);
    }
    scan_range scan(std::string_view prefix = {}) { return scan_range(iterate(prefix)); }

    void create_index(const index_def &def) { detail::check(kvdb_create_index(live(), def.get())); }
    void drop_index(const std::string &name) { detail::check(kvdb_drop_index(live(), name.c_str())); }
    std::vector<std::string> indexes() {
        char *names = nullptr;
        size_t count = 0;
        detail::check(kvdb_index_list(live(), &names, &count));
        std::unique_ptr<void, void (*)(void *)> owned(names, kvdb_free);
        std::vector<std::string> out;
        const char *p = names;
        for (size_t i = 0; i < count; ++i) {
            out.emplace_back(p);
            p += out.back().size() + 1;
        }
        return out;
    }
    /// The first record whose index key equals `ikey`: {key, value}.
    std::optional<std::pair<std::string, std::string>> index_get(const std::string &index, std::string_view ikey) {
        void *k = nullptr, *v = nullptr;
        size_t kl = 0, vl = 0;
        if (!detail::check_or(
                kvdb_index_get(live(), nullptr, index.c_str(), ikey.data(), ikey.size(), &k, &kl, &v, &vl),
                KVDB_NOT_FOUND))
            return std::nullopt;
        std::string key = detail::take(k, kl);
        return std::make_pair(std::move(key), detail::take(v, vl));
    }
    index_range index_equal(const std::string &index, std::string_view ikey) {
        return detail::view_queries{live(), nullptr}.equal(index, ikey);
    }
    index_range index_prefix(const std::string &index, std::string_view prefix) {
        return detail::view_queries{live(), nullptr}.prefix(index, prefix);
    }
    index_range index_range_of(const std::string &index, const index_bounds &b) {
        return detail::view_queries{live(), nullptr}.range(index, b);
    }

  private:
    explicit db(kvdb_t *h) : st_(std::make_shared<detail::db_state>()) { st_->handle = h; }
    static db load(const std::string &path, const kvdb_options_t *opts) {
        kvdb_t *h = nullptr;
        detail::check(kvdb_open_in_memory_from(path.c_str(), opts, &h));
        return db(h);
    }
    static db open_with(const char *path, const kvdb_options_t *opts) {
        kvdb_t *h = nullptr;
        detail::check(kvdb_open(path, opts, &h));
        return db(h);
    }
    kvdb_t *live() const {
        if (!st_) throw error(KVDB_INVALID_ARGUMENT, "the database is closed");
        return st_->live();
    }
    void release() noexcept {
        if (st_ && st_->handle) kvdb_close(std::exchange(st_->handle, nullptr));
    }
    std::shared_ptr<detail::db_state> st_;
};

/// The library's version, e.g. "0.1.0".
inline std::string_view version() noexcept { return kvdb_version(); }

/// The allocator the library uses for its own memory in this process:
/// "mimalloc", or "system" with KVDB_ALLOCATOR=system (see kvdb_allocator).
inline std::string_view allocator() noexcept { return kvdb_allocator(); }

}  // namespace kvdb

#endif  // KVDB_HPP
