// tensorswitch._cpu: the cpu backend's memory and kernels.  Python (backends/cpu.py) passes Memory objects,
// element offsets, shapes and element strides.  Every entry point checks once that its operands lie inside their
// buffers (Note [Bounds checks]); nothing here touches a Python object inside a loop, and loops over more than
// ts::grain() elements release the GIL and run on the pool's threads (Note [Thread pool] in pool.h).  The nn families' loops live in nn.cpp (nn.h);
// their entry points, with the same checks, are here.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <sys/mman.h>  // madvise
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>  // omp_get_max_threads: OMP_NUM_THREADS read the way every OpenMP program reads it
#endif

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

#include "kernels.h"
#include "nn.h"
#include "scan.h"
#include "sort.h"
#include "linalg.h"
#include "dlpack.h"
#include "elementwise_ops.inc"

namespace py = pybind11;
using ts::Dims;
using Shape = std::vector<int64_t>;
using Memory = py::handle;

namespace {

// -- memory -------------------------------------------------------------------------------------------------------

// Note [CPU memory pool]
// ~~~~~~~~~~~~~~~~~~~~~~
// Every op allocates its result, so allocate() is on the hot path: a freed block goes on the free list of its size
// class, and the next request of that class takes it back without calling the system allocator.
//   size classes  a request (with its 64-byte header) rounds up to 64 bytes up to 4 KiB, above that to one of 4
//                 sizes per power of two (PyTorch's roundup_power2_divisions = 4): at most 25% waste, and sizes that
//                 drift a little still reuse blocks.  A request takes only a block of its own class.
//   cap           at most cache_limit bytes of freed blocks stay cached (default 256 MiB; TENSORSWITCH_CPU_CACHE_LIMIT
//                 in bytes, read at import; set_cache_limit()).  A freed block that would go over the cap first evicts
//                 the least recently freed blocks; one larger than the cap goes straight back to the system.
//   pressure      when the system allocator fails, every cached block is released and the request retried once;
//                 after that allocate raises MemoryError naming the bytes asked for.  So does a request larger than
//                 memory_limit() (the machine's physical memory, or the cgroup's memory limit where that is lower),
//                 which is never tried.
//   available     on Linux a malloc larger than the free memory succeeds (overcommit), and the OOM killer ends the
//                 process when its pages are touched: no MemoryError, no traceback.  So a request of kCheckedRequest
//                 (256 MiB) or more that the cache cannot serve is first held against what the process can really
//                 get (available_memory(): the least of /proc/meminfo's MemAvailable and, for this process's cgroup
//                 and each of its ancestors with a memory limit (v2 memory.max, v1 memory.limit_in_bytes), the limit
//                 less the usage, page cache the kernel reclaims first (inactive_file) not counted as used).  If the
//                 request is larger, the cache is released (the pool's own cached blocks may be what is missing) and
//                 the figure read once more; still larger: MemoryError naming the bytes asked for and the bytes
//                 available.  Smaller requests keep the fast path: reading the figure costs tens of microseconds,
//                 filling 256 MiB tens of milliseconds.  TENSORSWITCH_CPU_AVAILABLE_BYTES (read at import) or
//                 _set_available_override() replace the figure, for tests.
//   statistics    memory_stats(): allocated_bytes (blocks handed out and not freed, in block bytes: rounded, header
//                 included), peak_allocated_bytes (since reset_peak_memory_stats()), cached_bytes, cache_limit_bytes,
//                 allocation_count (allocate calls that succeeded) and cache_hits (those served from the cache).
//   huge pages    blocks of 4 MiB and more are aligned to 2 MiB and advised into transparent huge pages
//                 (madvise(MADV_HUGEPAGE), as NumPy does for its arrays; most kernels give huge pages only to memory
//                 so advised).  A walk over 16 MiB buffers then misses the TLB 512 times less: on an AMD EPYC a
//                 4M-float multiply into a fresh result took 1.58 ms in small pages, NumPy's into its own 1.07.
// One mutex guards the lists and counters; the system allocator and free run outside it.

constexpr size_t kHeader = 64;  // in front of every buffer: its Block; keeps the data 64-byte aligned
constexpr size_t kSmall = 4096;
constexpr int kSmallClasses = static_cast<int>(kSmall / 64);
constexpr int kDivisions = 4;
constexpr int kClasses = kSmallClasses + (64 - 12) * kDivisions;
constexpr size_t kMaxRequest = size_t(1) << 62;  // size_class() cannot overflow below this
constexpr size_t kHugePage = size_t(2) << 20;    // x86-64's and arm64's (4 KiB granule) transparent huge page
constexpr size_t kHugeRequest = size_t(4) << 20; // from here blocks are advised into huge pages, as NumPy's are

struct Block {        // the header of a block; the buffer's data follows at kHeader
    size_t capacity;  // the block's bytes: its size class, header included
    size_t nbytes;    // the buffer's usable size, what allocate was asked for
    int cls;
    // while cached: the class's free list (most recently freed first) and the pool-wide order of freeing
    Block* prev;
    Block* next;
    Block* newer;
    Block* older;
};
static_assert(sizeof(Block) <= kHeader, "a block's header must fit in front of its 64-byte aligned data");

// The size class of a block for n bytes (kHeader <= n <= kMaxRequest): its index, and its size in ``size``.
inline int size_class(size_t n, size_t& size) {
    if (n <= kSmall) {
        size = (n + 63) & ~size_t(63);
        return static_cast<int>(size / 64) - 1;
    }
    const size_t m = n - 1;
    const int e = 63 - __builtin_clzll(m);  // 2^e <= m < 2^(e+1), e >= 12
    const size_t q = m >> (e - 2);          // 4..7: the quarter of [2^e, 2^(e+1)) that m lies in
    size = (q + 1) << (e - 2);
    return kSmallClasses + (e - 12) * kDivisions + static_cast<int>(q - 4);
}

struct PoolStats {
    size_t allocated, peak, cached, limit;
    uint64_t count, hits;
};

// -- what the process can really get ("available" in Note [CPU memory pool]) ---------------------------------------

constexpr size_t kCheckedRequest = size_t(256) << 20;  // requests this large are held against available_memory()
constexpr size_t kNoFigure = SIZE_MAX;                 // nothing could be read: no check
constexpr size_t kUnlimited = size_t(1) << 62;         // cgroup v1 writes "no limit" as 2^63 - 4096

// The text of a small file (/proc/meminfo, a cgroup's files), or false when it cannot be read.
bool read_text(const std::string& path, std::string& text) {
    FILE* f = std::fopen(path.c_str(), "r");
    if (!f) return false;
    text.clear();
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
    std::fclose(f);
    return true;
}

// The unsigned decimal at p, blanks skipped; false for anything else (cgroup v2's "max" included).
bool parse_number(const char* p, size_t& value) {
    while (*p == ' ' || *p == '\t') ++p;
    if (*p < '0' || *p > '9') return false;
    errno = 0;
    char* end = nullptr;
    const unsigned long long v = std::strtoull(p, &end, 10);
    if (errno) return false;
    value = static_cast<size_t>(v);
    return true;
}

// The number after ``key`` at the start of a line of ``text`` ("MemAvailable:" in meminfo, "inactive_file " in a
// memory.stat).
bool find_number(const std::string& text, const char* key, size_t& value) {
    const size_t len = std::strlen(key);
    for (size_t pos = 0; pos < text.size();) {
        size_t end = text.find('\n', pos);
        if (end == std::string::npos) end = text.size();
        if (text.compare(pos, len, key) == 0) return parse_number(text.c_str() + pos + len, value);
        pos = end + 1;
    }
    return false;
}

// A cgroup whose memory limit applies to this process: its own and each ancestor (found by find_cgroups).
struct CgroupMemory {
    std::string dir;
    bool v2;
    std::string limit_file() const { return dir + (v2 ? "/memory.max" : "/memory.limit_in_bytes"); }
    std::string usage_file() const { return dir + (v2 ? "/memory.current" : "/memory.usage_in_bytes"); }
    // page cache the kernel reclaims before it runs out (v1's total_ counts the cgroup's children, as its usage does)
    const char* reclaimable_key() const { return v2 ? "inactive_file " : "total_inactive_file "; }
};
std::vector<CgroupMemory> g_cgroups;  // this process's, found at import

std::atomic<int64_t> g_available_override{-1};  // >= 0: the figure (TENSORSWITCH_CPU_AVAILABLE_BYTES, for tests)

// The cgroup at ``path`` under ``mount`` and its ancestors up to the mount's root, those that have a limit file.  In
// a container without a cgroup namespace the path names the host's hierarchy and only the mount's root exists.
void add_cgroup_chain(std::vector<CgroupMemory>& found, const std::string& mount, std::string path, bool v2) {
    if (!path.empty() && path.back() == '\n') path.pop_back();
    if (path == "/") path.clear();
    for (;;) {
        CgroupMemory c{mount + path, v2};
        if (access(c.limit_file().c_str(), R_OK) == 0) found.push_back(c);
        if (path.empty()) break;
        const size_t slash = path.rfind('/');
        path.erase(slash == std::string::npos ? 0 : slash);
    }
}

// /proc/self/cgroup (``listing``) has lines "hierarchy:controllers:path": "0::path" is cgroup v2 (its memory files
// under /sys/fs/cgroup (``root``) when that is a v2 mount), a v1 line whose controllers name "memory" is under
// /sys/fs/cgroup/memory.
std::vector<CgroupMemory> find_cgroups(const std::string& listing, const std::string& root) {
    std::vector<CgroupMemory> found;
    std::string text;
    if (!read_text(listing, text)) return found;
    for (size_t pos = 0; pos < text.size();) {
        size_t end = text.find('\n', pos);
        if (end == std::string::npos) end = text.size();
        const std::string line = text.substr(pos, end - pos);
        pos = end + 1;
        const size_t a = line.find(':'), b = a == std::string::npos ? a : line.find(':', a + 1);
        if (b == std::string::npos) continue;
        const std::string id = line.substr(0, a), controllers = "," + line.substr(a + 1, b - a - 1) + ",";
        const std::string path = line.substr(b + 1);
        if (id == "0" && controllers == ",,") {
            if (access((root + "/cgroup.controllers").c_str(), R_OK) == 0) add_cgroup_chain(found, root, path, true);
        } else if (controllers.find(",memory,") != std::string::npos) {
            add_cgroup_chain(found, root + "/memory", path, false);
        }
    }
    return found;
}

// The lowest memory limit of ``cgroups``, or kNoFigure when none has one.
size_t cgroup_limit(const std::vector<CgroupMemory>& cgroups) {
    size_t least = kNoFigure, v;
    std::string text;
    for (const CgroupMemory& c : cgroups)
        if (read_text(c.limit_file(), text) && parse_number(text.c_str(), v) && v < kUnlimited && v < least) least = v;
    return least;
}

struct Available {
    size_t bytes = kNoFigure;
    std::string source;  // where the figure comes from, for the MemoryError
};

// Lowers ``a`` to the least room left in ``cgroups``: for each with a limit, the limit less what it uses (its
// reclaimable page cache not counted).
void least_cgroup_room(const std::vector<CgroupMemory>& cgroups, Available& a) {
    std::string text;
    for (const CgroupMemory& c : cgroups) {
        size_t limit, usage, cache = 0;
        if (!read_text(c.limit_file(), text) || !parse_number(text.c_str(), limit) || limit >= kUnlimited) continue;
        if (!read_text(c.usage_file(), text) || !parse_number(text.c_str(), usage)) continue;
        if (read_text(c.dir + "/memory.stat", text)) find_number(text, c.reclaimable_key(), cache);
        const size_t used = usage > cache ? usage - cache : 0;
        const size_t free = limit > used ? limit - used : 0;
        if (free < a.bytes) {
            a.bytes = free;
            a.source = "the memory limit of cgroup " + c.dir + " (" + std::to_string(limit) + " bytes) less its usage";
        }
    }
}

// What the process can get now: the least of MemAvailable and the room left in its cgroups.  See "available" in
// Note [CPU memory pool].
Available available_memory() {
    Available a;
    const int64_t forced = g_available_override.load(std::memory_order_relaxed);
    if (forced >= 0) {
        a.bytes = static_cast<size_t>(forced);
        a.source = "TENSORSWITCH_CPU_AVAILABLE_BYTES";
        return a;
    }
    std::string text;
    size_t v;
    if (read_text("/proc/meminfo", text) && find_number(text, "MemAvailable:", v) && v < kUnlimited / 1024) {
        a.bytes = v * 1024;  // meminfo counts in kB
        a.source = "MemAvailable in /proc/meminfo";
    }
    least_cgroup_room(g_cgroups, a);
    return a;
}

// A block of ``size`` bytes from the system; from kHugeRequest up, aligned to huge pages and advised to be backed by
// them ("huge pages" in Note [CPU memory pool]).
inline void* system_alloc(size_t size) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (size >= kHugeRequest) {
        const size_t rounded = (size + kHugePage - 1) & ~(kHugePage - 1);
        void* p = std::aligned_alloc(kHugePage, rounded);
        if (p) madvise(p, rounded, MADV_HUGEPAGE);  // advice: where the kernel has no huge page, small pages serve
        return p;
    }
#endif
    return std::aligned_alloc(kHeader, size);
}

class Pool {
  public:
    // A block for n bytes, header included (n <= kMaxRequest); nullptr when the system has none to give even after
    // the cache was emptied.  ``refused`` keeps kNoFigure, unless a large request was refused for want of available
    // memory: then it holds the figure (see "available" in Note [CPU memory pool]).
    Block* get(size_t n, Available& refused) {
        size_t size;
        const int cls = size_class(n, size);
        {
            std::lock_guard<std::mutex> g(mu_);
            if (Block* b = free_[cls]) {
                unlink(b);
                ++hits_;
                count_handed_out(size);
                return b;
            }
        }
        if (n >= kCheckedRequest && !available_for(n, refused)) return nullptr;
        void* p = system_alloc(size);
        if (!p) {  // release under pressure: our cached blocks may be what the system is missing
            release_all();
            p = system_alloc(size);
            if (!p) return nullptr;
        }
        Block* b = static_cast<Block*>(p);
        b->capacity = size;
        b->cls = cls;
        std::lock_guard<std::mutex> g(mu_);
        count_handed_out(size);
        return b;
    }

    void put(Block* b) {
        Block* gone = nullptr;
        {
            std::lock_guard<std::mutex> g(mu_);
            allocated_ -= b->capacity;
            if (b->capacity > limit_) {
                b->next = nullptr;
                gone = b;
            } else {
                gone = evict_to(limit_ - b->capacity);
                b->prev = nullptr;
                b->next = free_[b->cls];
                if (b->next) b->next->prev = b;
                free_[b->cls] = b;
                b->newer = nullptr;
                b->older = newest_;
                if (newest_) newest_->newer = b;
                else oldest_ = b;
                newest_ = b;
                cached_ += b->capacity;
            }
        }
        free_chain(gone);
    }

    void release_all() { set_limit_and_evict(nullptr, 0); }

    void set_limit(size_t limit) { set_limit_and_evict(&limit, limit); }

    PoolStats stats() {
        std::lock_guard<std::mutex> g(mu_);
        return {allocated_, peak_, cached_, limit_, count_, hits_};
    }

    void reset_peak() {
        std::lock_guard<std::mutex> g(mu_);
        peak_ = allocated_;
    }

  private:
    // Whether n more bytes can be had; if not at first, the cache is released and the figure read once more (our own
    // cached blocks may be what is missing).  Not under the lock.  On a refusal the last figure is left in ``seen``.
    bool available_for(size_t n, Available& seen) {
        Available now = available_memory();
        if (n <= now.bytes) return true;
        release_all();
        now = available_memory();
        if (n <= now.bytes) return true;
        seen = now;
        return false;
    }

    void count_handed_out(size_t size) {  // under the lock
        ++count_;
        allocated_ += size;
        if (allocated_ > peak_) peak_ = allocated_;
    }

    void unlink(Block* b) {  // under the lock: take a cached block out of both lists
        if (b->prev) b->prev->next = b->next;
        else free_[b->cls] = b->next;
        if (b->next) b->next->prev = b->prev;
        if (b->newer) b->newer->older = b->older;
        else newest_ = b->older;
        if (b->older) b->older->newer = b->newer;
        else oldest_ = b->newer;
        cached_ -= b->capacity;
    }

    // Under the lock: unlink the least recently freed blocks until at most ``keep`` bytes stay cached; returns them
    // chained through ``next``, for free_chain once the lock is released.
    Block* evict_to(size_t keep) {
        Block* gone = nullptr;
        while (cached_ > keep) {
            Block* b = oldest_;
            unlink(b);
            b->next = gone;
            gone = b;
        }
        return gone;
    }

    void set_limit_and_evict(const size_t* limit, size_t keep) {
        Block* gone;
        {
            std::lock_guard<std::mutex> g(mu_);
            if (limit) limit_ = *limit;
            gone = evict_to(keep);
        }
        free_chain(gone);
    }

    static void free_chain(Block* b) {
        while (b) {
            Block* next = b->next;
            std::free(b);
            b = next;
        }
    }

    std::mutex mu_;
    Block* free_[kClasses] = {};
    Block* newest_ = nullptr;
    Block* oldest_ = nullptr;
    size_t cached_ = 0, limit_ = size_t(256) << 20, allocated_ = 0, peak_ = 0;
    uint64_t count_ = 0, hits_ = 0;
};

Pool& pool() {
    static Pool* p = new Pool();  // never destroyed: Memory objects may outlive static destruction at exit
    return *p;
}

// The largest single allocation: the machine's physical memory, or the cgroup's limit where lower (set at import,
// see memory_limit()).
size_t g_memory_limit = kMaxRequest;
bool g_limit_is_cgroup = false;

size_t physical_memory() {
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0) return kMaxRequest;
    const unsigned __int128 bytes = static_cast<unsigned __int128>(pages) * static_cast<unsigned long>(page);
    return bytes > kMaxRequest ? kMaxRequest : static_cast<size_t>(bytes);
}

// A cpu buffer is a PyCapsule over pool memory: the cheapest Python object there is (tensor creation is on the hot
// path of every op).  Its Block sits in the kHeader bytes in front of the data.
constexpr const char* kCapsule = "tensorswitch.cpu.memory";

inline Block* block_of(char* data) { return reinterpret_cast<Block*>(data - kHeader); }

void free_capsule(PyObject* capsule) {
    char* data = static_cast<char*>(PyCapsule_GetPointer(capsule, kCapsule));
    if (!data) {
        PyErr_Clear();
        return;
    }
    pool().put(block_of(data));
}

// A new buffer of nbytes, or nullptr with MemoryError set (see Note [CPU memory pool]).
PyObject* allocate(size_t nbytes) {
    // Also catches nbytes + kHeader overflowing size_t: the limit is at most 2^62.
    if (nbytes > g_memory_limit) {
        PyErr_Format(PyExc_MemoryError, "cpu: cannot allocate %zu bytes: more than %s (%zu bytes)", nbytes,
                     g_limit_is_cgroup ? "this process's cgroup memory limit" : "this machine's physical memory",
                     g_memory_limit);
        return nullptr;
    }
    Available refused;
    Block* b = pool().get(nbytes + kHeader, refused);
    if (!b && refused.bytes != kNoFigure) {
        PyErr_Format(PyExc_MemoryError,
                     "cpu: cannot allocate %zu bytes: only %zu bytes are available to this process (%s; the memory "
                     "pool's cache was released first)", nbytes, refused.bytes, refused.source.c_str());
        return nullptr;
    }
    if (!b) {
        PyErr_Format(PyExc_MemoryError,
                     "cpu: out of memory allocating %zu bytes (the system allocator failed, also after the cache "
                     "was emptied)", nbytes);
        return nullptr;
    }
    b->nbytes = nbytes;
    PyObject* cap = PyCapsule_New(reinterpret_cast<char*>(b) + kHeader, kCapsule, &free_capsule);
    if (!cap) pool().put(b);
    return cap;
}

// Note [Foreign memory]
// ~~~~~~~~~~~~~~~~~~~~~
// A zero-copy import (a DLPack capsule from NumPy, PyTorch and friends: dispatch/interop.py) gives a tensor memory
// that the pool did not allocate.  Such a buffer is a second kind of capsule, kForeignCapsule, whose pointer is a
// Foreign record: where the data is, its size, whether it may be written, and what owns it (the producer's DLPack
// managed tensor, whose deleter frees it, and/or a Python object held by a reference).  Dropping the capsule (with
// the last tensor on it) releases the owner; the memory never enters the pool, and memory_stats does not count it.
// Every entry point reaches a buffer's bytes through span_of (data_of, size_of): one comparison of the capsule's
// name pointer tells the kinds apart, so pool buffers keep their cost.  Block headers exist only in front of pool
// memory: nothing outside the pool's own code may call block_of.  Read-only imports refuse copy_in and copy_between
// into them (writable_data); their tensors are read-only on the Python side too, which stops every in-place op.
constexpr const char* kForeignCapsule = "tensorswitch.cpu.foreign";

struct Foreign {
    char* data;
    size_t nbytes;
    bool writable;
    void* managed;    // a DLPack managed tensor whose deleter frees the memory, or nullptr
    bool versioned;   // whether ``managed`` is a DLManagedTensorVersioned (else a DLManagedTensor)
    PyObject* owner;  // a Python object that owns the memory (one reference held), or nullptr
};

void free_foreign(PyObject* capsule) {
    auto* f = static_cast<Foreign*>(PyCapsule_GetPointer(capsule, kForeignCapsule));
    if (!f) {
        PyErr_Clear();
        return;
    }
    if (f->managed) ts::dlpack::call_deleter(f->managed, f->versioned);
    Py_XDECREF(f->owner);
    delete f;
}

// A buffer over foreign memory (Note [Foreign memory]); nullptr with an error set, the owners untouched, on failure.
PyObject* foreign_memory(char* data, size_t nbytes, bool writable, void* managed, bool versioned, PyObject* owner) {
    auto* f = new (std::nothrow) Foreign{data, nbytes, writable, managed, versioned, owner};
    if (!f) return PyErr_NoMemory();
    PyObject* cap = PyCapsule_New(f, kForeignCapsule, &free_foreign);
    if (!cap) {
        delete f;
        return nullptr;
    }
    Py_XINCREF(owner);
    return cap;
}

struct Span {
    char* data;
    size_t nbytes;
    bool writable;
};

// The bytes of a buffer of either kind; ValueError (as CPython's capsule checks raised before) for anything else.
inline Span span_of(Memory memory) {
    PyObject* o = memory.ptr();
    const char* name = PyCapsule_CheckExact(o) ? PyCapsule_GetName(o) : nullptr;
    if (name == kCapsule) {
        char* data = static_cast<char*>(PyCapsule_GetPointer(o, kCapsule));
        return {data, block_of(data)->nbytes, true};
    }
    if (name == kForeignCapsule) {
        const Foreign* f = static_cast<Foreign*>(PyCapsule_GetPointer(o, kForeignCapsule));
        return {f->data, f->nbytes, f->writable};
    }
    PyErr_Format(PyExc_ValueError, "expected a tensorswitch cpu buffer (a capsule from allocate() or an import), "
                 "got %s", Py_TYPE(o)->tp_name);
    throw py::error_already_set();
}

inline char* data_of(Memory memory) { return span_of(memory).data; }

inline size_t size_of(Memory memory) { return span_of(memory).nbytes; }

// The data of a buffer that is about to be written: ValueError for a read-only import.
inline char* writable_data(Memory memory, const char* what) {
    const Span s = span_of(memory);
    if (!s.writable)
        throw std::invalid_argument(std::string(what) + ": the destination is read-only memory imported from another "
                                    "library (Note [Foreign memory]); write into a copy");
    return s.data;
}

// -- bounds -------------------------------------------------------------------------------------------------------

// Note [Bounds checks]
// ~~~~~~~~~~~~~~~~~~~~
// A loop trusts its layout: a wrong offset, shape or stride would read or write outside the buffer.  So every entry
// point checks each operand once per call, before any loop runs, and raises IndexError when it reaches outside its
// buffer.  In elements, from the operand's offset:
//     lowest  = offset + sum over dims of min(0, (n - 1) * stride)
//     highest = offset + sum over dims of max(0, (n - 1) * stride)
// and the operand is inside when 0 <= lowest and (highest + 1) * itemsize <= size_of(buffer).  Negative strides may
// start from any offset that keeps the lowest byte inside; an operand with an empty shape touches nothing and is not
// checked; an overflow anywhere counts as outside.  The contiguous fast paths (unary_contig, binary_contig) make the
// same test for one dimension of stride 1: offset >= 0 and (offset + n) * itemsize <= size.  The loops never check.
// Dtype codes are checked too, against the widths of what the loop really reads and writes.

constexpr int kShift[ts::kNumDtypes] = {0, 0, 1, 2, 3, 0, 1, 2, 3, 1, 2, 3};  // log2 of ts::kItemsize

inline int itemsize(int dt) {
    if (dt < 0 || dt >= ts::kNumDtypes) throw std::invalid_argument("unknown dtype code " + std::to_string(dt));
    return ts::kItemsize[dt];
}

[[noreturn]] void outside(const std::string& what, const std::string& why) {
    throw std::out_of_range(what + ": " + why);  // pybind11 raises IndexError
}

// The element range that one operand's layout reaches, built dim by dim.
class Reach {
  public:
    explicit Reach(int64_t offset) : offset_(offset), lo_(offset), hi_(offset) {}

    Reach& dim(int64_t n, int64_t stride) {
        if (n < 0) {
            negative_ = true;
        } else if (n == 0) {
            empty_ = true;
        } else {
            int64_t span;
            if (__builtin_mul_overflow(n - 1, stride, &span) ||
                (span < 0 ? __builtin_add_overflow(lo_, span, &lo_) : __builtin_add_overflow(hi_, span, &hi_)))
                overflow_ = true;
        }
        return *this;
    }

    Reach& dims(const Shape& shape, const Shape& strides) {
        if (shape.size() != strides.size()) throw std::invalid_argument("strides and shape differ in length");
        for (size_t i = 0; i < shape.size(); ++i) dim(shape[i], strides[i]);
        return *this;
    }

    // The operand's element at ``offset``, once everything the layout reaches is known to lie in ``mem``.
    char* check(Memory mem, int dt, const char* what) const {
        const int64_t item = itemsize(dt);
        const Span span = span_of(mem);  // either kind of buffer (Note [Foreign memory])
        char* data = span.data;
        if (negative_) outside(what, "a negative extent in the shape");
        if (empty_) return data;
        const size_t size = span.nbytes;
        int64_t end;
        if (overflow_ || __builtin_add_overflow(hi_, 1, &end) || __builtin_mul_overflow(end, item, &end))
            outside(what, "the layout overflows 64-bit element offsets");
        if (lo_ < 0 || static_cast<uint64_t>(end) > size)
            outside(what, "the layout reaches elements [" + std::to_string(lo_) + ", " + std::to_string(hi_) +
                              "] of " + std::to_string(item) + " bytes, outside its buffer of " +
                              std::to_string(size) + " bytes");
        return data + offset_ * item;
    }

  private:
    int64_t offset_, lo_, hi_;
    bool negative_ = false, empty_ = false, overflow_ = false;
};

// The element count of a shape (and further extents), IndexError when negative or too large for int64.
int64_t numel_of(const char* what, const Shape& shape, std::initializer_list<int64_t> more = {}) {
    int64_t n = 1;
    bool overflow = false;
    for (auto s : shape) {
        if (s < 0) outside(what, "a negative extent in the shape");
        overflow |= __builtin_mul_overflow(n, s, &n);
    }
    for (auto s : more) {
        if (s < 0) outside(what, "a negative extent in the shape");
        overflow |= __builtin_mul_overflow(n, s, &n);
    }
    if (overflow) outside(what, "the shape has more than 2^63 elements");
    return n;
}

// The contiguous fast paths' form: n elements from offset (n == 0 touches nothing).
inline bool contiguous_inside(int64_t offset, int64_t n, size_t size, int dt) {
    uint64_t end;
    return n == 0 || (n > 0 && offset >= 0 && !__builtin_add_overflow(static_cast<uint64_t>(offset),
                                                                       static_cast<uint64_t>(n), &end) &&
                      end <= (size >> kShift[dt]));
}

// -- loops --------------------------------------------------------------------------------------------------------

template <int N>
Dims<N> dims(const Shape& shape, std::initializer_list<const Shape*> strides, std::initializer_list<int> dtypes,
             bool by_output = false) {
    const Shape* st[N];
    int item[N];
    int k = 0;
    for (auto s : strides) st[k++] = s;
    k = 0;
    for (auto dt : dtypes) item[k++] = itemsize(dt);
    for (int i = 0; i < N; ++i)
        if (st[i]->size() != shape.size()) throw std::invalid_argument("strides and shape differ in length");
    return ts::make_dims<N>(shape, st, item, by_output);
}

template <int N>
Dims<N> flat(int64_t n, std::initializer_list<int> dtypes) {
    Dims<N> d;
    d.nd = 1;
    d.shape[0] = n;
    int k = 0;
    for (auto dt : dtypes) d.st[k++][0] = ts::kItemsize[dt];
    return d;
}

// Release the GIL only when the work is worth it: the release itself costs about 0.1 us.
struct MaybeRelease {
    PyThreadState* state = nullptr;
    explicit MaybeRelease(int64_t work) {
        if (work >= ts::grain()) state = PyEval_SaveThread();
    }
    ~MaybeRelease() {
        if (state) PyEval_RestoreThread(state);
    }
};

constexpr int kNumUnary = sizeof(unary_table) / sizeof(unary_table[0]);
constexpr int kNumBinary = sizeof(binary_table) / sizeof(binary_table[0]);

// The loop of (op, dtype), checked against the out dtype code it was handed (see Note [Bounds checks]).
template <class Entry, int Rows>
const Entry* elementwise_fn(const Entry* const (&table)[Rows][ts::kNumDtypes], int op, int dt, int odt,
                            const char* family) {
    if (op < 0 || op >= Rows || dt < 0 || dt >= ts::kNumDtypes || !table[op][dt])
        throw std::invalid_argument(std::string("no cpu kernel for this ") + family + " op and dtype");
    const Entry* fn = table[op][dt];
    if (odt < 0 || odt >= ts::kNumDtypes || fn->out_size != ts::kItemsize[odt] || fn->in_size != ts::kItemsize[dt])
        throw std::invalid_argument(std::string("the out dtype code does not match this ") + family + " op");
    return fn;
}
ts::UnaryKernel unary_fn(int op, int dt, int odt) { return elementwise_fn(unary_table, op, dt, odt, "unary"); }
ts::BinaryKernel binary_fn(int op, int dt, int odt) { return elementwise_fn(binary_table, op, dt, odt, "binary"); }

// The weight of one element of an op (Note [Elementwise grain] in kernels.h): kLibmCost for the ops whose expression
// calls the C library's functions (the list), 1 for the rest.  An op missing from the list is still right, it only
// goes parallel later than it could.
constexpr int64_t kLibmCost = 8;
constexpr const char* kLibmOps[] = {"exp", "log", "sin", "cos", "tan", "tanh", "erf", "sigmoid", "acos", "acosh",
                                    "asin", "asinh", "atan", "atanh", "cosh", "sinh", "expm1", "log1p", "log2",
                                    "log10", "pow", "atan2", "hypot", "logaddexp"};

std::vector<int64_t> op_costs(const char* const* names, int n) {
    std::vector<int64_t> cost(static_cast<size_t>(n), 1);
    for (int i = 0; i < n; ++i)
        for (const char* heavy : kLibmOps)
            if (std::strcmp(names[i], heavy) == 0) cost[static_cast<size_t>(i)] = kLibmCost;
    return cost;
}

// The cost of op (an index that unary_fn/binary_fn accepted).
int64_t unary_cost(int op) {
    static const std::vector<int64_t> cost = op_costs(unary_op_names, kNumUnary);
    return cost[static_cast<size_t>(op)];
}
int64_t binary_cost(int op) {
    static const std::vector<int64_t> cost = op_costs(binary_op_names, kNumBinary);
    return cost[static_cast<size_t>(op)];
}

// -- reductions ---------------------------------------------------------------------------------------------------

template <class T>
struct SumR {
    using Acc = ts::accum_t<T>;
    static Acc init() { return 0; }
    static void step(Acc& a, T v, int64_t) { a += static_cast<Acc>(static_cast<ts::compute_t<T>>(v)); }
    static void merge(Acc& a, const Acc& b) { a += b; }
};
template <class T>
struct ProdR {
    using Acc = ts::accum_t<T>;
    static Acc init() { return 1; }
    static void step(Acc& a, T v, int64_t) { a *= static_cast<Acc>(static_cast<ts::compute_t<T>>(v)); }
    static void merge(Acc& a, const Acc& b) { a *= b; }
};
template <class T>
struct MaxR {  // NaN wins and stays (NumPy's maximum.reduce)
    using Acc = ts::compute_t<T>;
    static Acc init() {
        return ts::is_float_v<T> ? -std::numeric_limits<Acc>::infinity() : std::numeric_limits<Acc>::lowest();
    }
    static void step(Acc& a, T x, int64_t) {
        const Acc v = static_cast<Acc>(x);
        if (a == a && (v > a || v != v)) a = v;
    }
    static void merge(Acc& a, const Acc& b) { step(a, static_cast<T>(b), 0); }
};
template <class T>
struct MinR {
    using Acc = ts::compute_t<T>;
    static Acc init() {
        return ts::is_float_v<T> ? std::numeric_limits<Acc>::infinity() : std::numeric_limits<Acc>::max();
    }
    static void step(Acc& a, T x, int64_t) {
        const Acc v = static_cast<Acc>(x);
        if (a == a && (v < a || v != v)) a = v;
    }
    static void merge(Acc& a, const Acc& b) { step(a, static_cast<T>(b), 0); }
};
template <class T, bool IsMax>
struct ArgR {  // first index of the extreme; the first NaN wins
    struct Acc {
        ts::compute_t<T> v;
        int64_t i;
    };
    static Acc init() { return {ts::compute_t<T>(0), -1}; }
    static void step(Acc& a, T x, int64_t i) {
        const ts::compute_t<T> v = static_cast<ts::compute_t<T>>(x);
        if (a.i < 0 || (a.v == a.v && (v != v || (IsMax ? v > a.v : v < a.v)))) a = {v, i};
    }
    static void merge(Acc& a, const Acc& b) {
        if (b.i >= 0 && (a.i < 0 || (a.v == a.v && (b.v != b.v || (IsMax ? b.v > a.v : b.v < a.v))))) a = b;
    }
};
template <class T>
struct AllR {
    using Acc = bool;
    static Acc init() { return true; }
    static void step(Acc& a, T v, int64_t) { a = a && ts::convert<bool>(v); }
    static void merge(Acc& a, const Acc& b) { a = a && b; }
};
template <class T>
struct AnyR {
    using Acc = bool;
    static Acc init() { return false; }
    static void step(Acc& a, T v, int64_t) { a = a || ts::convert<bool>(v); }
    static void merge(Acc& a, const Acc& b) { a = a || b; }
};

// Note [Vectorised reductions]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// A scalar reduction is one long dependency chain, and for floats the compiler may not reorder it.  So a contiguous
// run of sum, max or min (of the real dtypes) is reduced in independent lanes - lane j takes elements j, j + L, ... -
// which are combined in lane order at the end of the run: they vectorise and pipeline, and the TS_HOT clones
// (Note [Runtime ISA dispatch]) use the CPU's full width.  The lane counts are fixed here, not by the ISA, so every
// ISA path adds in the same order and gives the same bits.
//   sum, float32   32 float lanes (four 8-float vectors of GCC's vector extension, which it splits where registers
//                  are narrower) within blocks of 4096 elements (each lane adds 128 values); at the end of a block
//                  the four vectors are added in float and their 8 lanes as a tree in double, and the block's total
//                  goes into a double: NumPy's and PyTorch's blocked float accumulation, well inside Note [Reduction
//                  tolerances].  The tree matters for short rows (sum(axis=-1) of rows of 256): a chain of 32
//                  dependent adds at the end of each row cost more than the row.
//   sum, float64   16 double lanes, combined the same way; float16 adds in double as before; integers in their
//                  accumulator type, which the compiler vectorises itself (integer adds reorder freely)
//   max, min       32 bytes x 4 of lanes of the dtype with a select, and for floats a NaN mask per lane; a run that
//                  holds a NaN is walked again with MaxR/MinR's step, so the first NaN wins as before.  Among equal
//                  values (+0 and -0) the lanes may keep another one than the first (so may NumPy's SIMD loops).
template <class V>
inline V load_vector(const void* p) {
    V v;
    std::memcpy(&v, p, sizeof v);  // an unaligned load
    return v;
}

template <class T>
__attribute__((always_inline)) inline ts::accum_t<T> sum_run_body(const T* x, int64_t n) {
    using Acc = ts::accum_t<T>;
    if constexpr (std::is_same<T, float>::value) {
        typedef float v8f __attribute__((vector_size(32)));
        double acc = 0;
        int64_t i = 0;
        while (i < n) {
            const int64_t end = std::min(n, i + 4096);
            v8f lanes[4] = {};
            for (; i + 32 <= end; i += 32)
                for (int v = 0; v < 4; ++v) lanes[v] += load_vector<v8f>(x + i + 8 * v);
            v8f all = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
            if (i < end) {  // the block's last elements, into their lanes
                float part[8];
                std::memcpy(part, &all, sizeof part);
                for (; i < end; ++i) part[i % 8] += x[i];
                std::memcpy(&all, part, sizeof part);
            }
            // ((b0 + b1) + (b2 + b3)) + ((b4 + b5) + (b6 + b7)) in double, in registers: the pairs by one shuffle
            typedef double v4d __attribute__((vector_size(32)));
            const v4d lo = __builtin_convertvector(__builtin_shufflevector(all, all, 0, 1, 2, 3), v4d);
            const v4d hi = __builtin_convertvector(__builtin_shufflevector(all, all, 4, 5, 6, 7), v4d);
            const v4d pairs = __builtin_shufflevector(lo, hi, 0, 2, 4, 6) + __builtin_shufflevector(lo, hi, 1, 3, 5, 7);
            acc += (pairs[0] + pairs[1]) + (pairs[2] + pairs[3]);
        }
        return acc;
    } else if constexpr (std::is_same<T, double>::value) {
        typedef double v4d __attribute__((vector_size(32)));
        v4d lanes[4] = {};
        int64_t i = 0;
        for (; i + 16 <= n; i += 16)
            for (int v = 0; v < 4; ++v) lanes[v] += load_vector<v4d>(x + i + 4 * v);
        const v4d all = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
        double part[4];
        std::memcpy(part, &all, sizeof part);
        for (; i < n; ++i) part[i % 4] += x[i];
        return (part[0] + part[1]) + (part[2] + part[3]);
    } else if constexpr (std::is_integral<T>::value) {
        Acc acc = 0;
        for (int64_t i = 0; i < n; ++i) acc += static_cast<Acc>(x[i]);
        return acc;
    } else {  // float16: independent partial sums in double, so the adds pipeline
        Acc part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        int64_t i = 0;
        for (; i + 8 <= n; i += 8)
            for (int j = 0; j < 8; ++j) part[j] += static_cast<Acc>(static_cast<ts::compute_t<T>>(x[i + j]));
        for (; i < n; ++i) part[0] += static_cast<Acc>(static_cast<ts::compute_t<T>>(x[i]));
        Acc acc = 0;
        for (int j = 0; j < 8; ++j) acc += part[j];
        return acc;
    }
}

template <class T>
TS_HOT ts::accum_t<T> sum_run(const T* x, int64_t n) {
    return sum_run_body<T>(x, n);
}

// The sums of ``count`` contiguous runs of n elements, ``row_stride`` elements apart, into out: sum(axis=-1) of
// many short rows in one call of the ISA clone, where a call per row (through the clones' resolver) cost as much as
// a row of 256 floats.  Each row adds as sum_run does: the same bits.
template <class T, class Out>
TS_HOT void sum_rows(const T* x, int64_t row_stride, int64_t n, Out* out, int64_t count) {
    for (int64_t r = 0; r < count; ++r) out[r] = static_cast<Out>(sum_run_body<T>(x + r * row_stride, n));
}

// The largest (IsMax) or smallest value of a contiguous run (n >= 1) of a float, double or integer dtype; for floats
// ``nan`` says whether the run holds a NaN (the value is then meaningless).
template <class T, bool IsMax>
TS_HOT T extreme_run(const T* x, int64_t n, bool& nan) {
    auto better = [](T v, T m) { return IsMax ? v > m : v < m; };
    T best = x[0];
    int64_t i = 0;
    if constexpr (std::is_floating_point<T>::value) {
        typedef T V __attribute__((vector_size(32)));
        typedef std::conditional_t<sizeof(T) == 4, int32_t, int64_t> I;
        typedef I M __attribute__((vector_size(32)));
        constexpr int W = 32 / sizeof(T);
        bool any_nan = false;
        if (n >= 4 * W) {
            V m[4];
            M bad[4] = {};
            for (int v = 0; v < 4; ++v) m[v] = load_vector<V>(x + v * W);
            for (i = 4 * W; i + 4 * W <= n; i += 4 * W)
                for (int v = 0; v < 4; ++v) {
                    const V c = load_vector<V>(x + i + v * W);
                    m[v] = IsMax ? (c > m[v] ? c : m[v]) : (c < m[v] ? c : m[v]);
                    bad[v] |= c != c;
                }
            T lanes[4 * W];
            I masks[4 * W];
            std::memcpy(lanes, m, sizeof lanes);
            std::memcpy(masks, bad, sizeof masks);
            best = lanes[0];
            for (int j = 0; j < 4 * W; ++j) {
                best = better(lanes[j], best) ? lanes[j] : best;
                any_nan |= masks[j] != 0 || lanes[j] != lanes[j];  // a NaN in the first vector stays in its lane
            }
        }
        for (; i < n; ++i) {
            best = better(x[i], best) ? x[i] : best;
            any_nan |= x[i] != x[i];
        }
        nan = any_nan;
    } else {
        nan = false;
        for (i = 1; i < n; ++i) best = better(x[i], best) ? x[i] : best;  // integers: vectorises as it is
    }
    return best;
}

// a[c] += row[c] for c in [0, n), in the accumulator type: the column sums' inner loop (reduce_typed), one row at a
// time, which vectorises across columns; each column adds its values in the same order in every clone.
template <class T, class Acc>
__attribute__((always_inline)) inline void add_row_into_plain(Acc* a, const T* row, int64_t n) {
    for (int64_t c = 0; c < n; ++c) a[c] += static_cast<Acc>(static_cast<ts::compute_t<T>>(row[c]));
}
template <class T, class Acc>
TS_HOT void add_row_into_hot(Acc* a, const T* row, int64_t n) {
    add_row_into_plain<T, Acc>(a, row, n);
}
template <class T, class Acc>
inline void add_row_into(Acc* a, const T* row, int64_t n) {
    if constexpr (ts::hot_type_v<T>) add_row_into_hot<T, Acc>(a, row, n);
    else add_row_into_plain<T, Acc>(a, row, n);
}

template <class R, class T> constexpr bool is_max_v = std::is_same<R, MaxR<T>>::value;
template <class R, class T> constexpr bool is_min_v = std::is_same<R, MinR<T>>::value;

// One run of n elements ``stride`` bytes apart into ``acc``; ``first`` is the flat index of its first element
// (argmax needs it).  Contiguous runs of sum, max and min take Note [Vectorised reductions].
template <class R, class T>
void reduce_run(typename R::Acc& acc, const char* p, int64_t n, int64_t stride, int64_t first) {
    if (n <= 0) return;
    if (stride == sizeof(T)) {
        const T* x = reinterpret_cast<const T*>(p);
        if constexpr (std::is_same<R, SumR<T>>::value && ts::hot_type_v<T>) {
            acc += sum_run<T>(x, n);
            return;
        }
        if constexpr ((is_max_v<R, T> || is_min_v<R, T>) && (std::is_floating_point<T>::value ||
                                                             std::is_integral<T>::value)) {
            if (acc == acc) {  // once NaN, always NaN
                bool nan;
                const T best = extreme_run<T, is_max_v<R, T>>(x, n, nan);
                if (!nan) {
                    R::step(acc, best, 0);
                    return;
                }
            } else {
                return;
            }
        }
    }
    for (int64_t i = 0; i < n; ++i) R::step(acc, *reinterpret_cast<const T*>(p + i * stride), first + i);
}

template <class R, class T>
typename R::Acc reduce_range(const Dims<1>& inner, char* base, int64_t begin, int64_t end) {
    typename R::Acc acc = R::init();
    char* b[1] = {base};
    ts::for_each_run<1>(inner, b, begin, end, [&](char** p, int64_t n, const int64_t* s) {
        // runs arrive in C order
        reduce_run<R, T>(acc, p[0], n, s[0], begin);
        begin += n;
    });
    return acc;
}

template <class Out, class Acc>
Out finish(const Acc& a) {
    if constexpr (std::is_class<Acc>::value && !ts::is_complex_v<Acc>) return static_cast<Out>(a.i);  // ArgR
    else return static_cast<Out>(a);
}

template <class R, class T, class Out>
void reduce_impl(char* x, const Shape& kept_shape, const Shape& kept_strides, const Shape& inner_shape,
                 const Shape& inner_strides, Out* out) {
    // The kept dims coalesced (size-1 dims dropped, neighbours that walk as one merged), in C order, so that each
    // output's flat index is unchanged: a (64, 16, 150) tensor summed over its batch is then the column sum of a
    // (64, 2400) one below.
    Shape outer_shape, outer_strides;
    for (size_t d = 0; d < kept_shape.size(); ++d) {
        if (kept_shape[d] == 1) continue;
        if (!outer_shape.empty() && outer_strides.back() == kept_strides[d] * kept_shape[d]) {
            outer_shape.back() *= kept_shape[d];
            outer_strides.back() = kept_strides[d];
            continue;
        }
        outer_shape.push_back(kept_shape[d]);
        outer_strides.push_back(kept_strides[d]);
    }
    const Shape* ist[1] = {&inner_strides};
    const int isz[1] = {static_cast<int>(sizeof(T))};
    Dims<1> inner = ts::make_dims<1>(inner_shape, ist, isz);
    const int64_t n_inner = inner.numel();
    int64_t n_outer = 1;
    for (auto n : outer_shape) n_outer *= n;
    const int nd_outer = static_cast<int>(outer_shape.size());
    auto base_of = [&](int64_t o) {
        if (nd_outer == 1) return x + o * outer_strides[0] * static_cast<int64_t>(sizeof(T));  // rows: no division
        char* p = x;
        for (int d = nd_outer - 1; d >= 0; --d) {
            p += (o % outer_shape[d]) * outer_strides[d] * static_cast<int64_t>(sizeof(T));
            o /= outer_shape[d];
        }
        return p;
    };
    if constexpr (std::is_same<R, SumR<T>>::value) {
        const int threads = ts::max_threads();
        // Column sums (a bias gradient: an (N, M) tensor summed over N): each output's values lie a row apart, so
        // reducing one output at a time strides through memory (~1 ns an element).  When the kept axis is the
        // contiguous one, walk the reduced positions in memory order instead and add each row into a row of
        // accumulators, which vectorises; columns are split across threads.  Each column still adds its values in
        // order, in the accumulator type (double for float), as NumPy's axis-0 sum does.
        if (nd_outer == 1 && outer_strides[0] == 1 && n_outer >= 8 && n_inner > 1) {
            using Acc = typename R::Acc;
            const int64_t cols = n_outer;
            const int nt = n_outer * n_inner >= ts::grain()
                               ? static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, cols / 8)))
                               : 1;
            const int64_t chunk = (cols + nt - 1) / nt;
            ts::parallel_for(nt, nt, [&](int64_t t) {
                const int64_t c0 = t * chunk, c1 = std::min(cols, c0 + chunk);
                if (c0 >= c1) return;
                std::vector<Acc> acc(static_cast<size_t>(c1 - c0), Acc(0));
                Acc* a = acc.data();
                char* b[1] = {x + c0 * static_cast<int64_t>(sizeof(T))};
                ts::for_each_run<1>(inner, b, 0, n_inner, [&](char** p, int64_t n, const int64_t* s) {
                    for (int64_t i = 0; i < n; ++i)
                        add_row_into<T, Acc>(a, reinterpret_cast<const T*>(p[0] + i * s[0]), c1 - c0);
                });
                for (int64_t c = c0; c < c1; ++c) out[c] = finish<Out>(acc[static_cast<size_t>(c - c0)]);
            });
            return;
        }
    }
    // one run per output (the reduced dims coalesce into one: rows along the last axis, or all of a contiguous
    // tensor) skips for_each_run's set-up, which a short row would feel
    auto reduce_one = [&](int64_t o) {
        if (inner.nd == 1) {
            typename R::Acc acc = R::init();
            reduce_run<R, T>(acc, base_of(o), n_inner, inner.st[0][0], 0);
            return finish<Out>(acc);
        }
        return finish<Out>(reduce_range<R, T>(inner, base_of(o), 0, n_inner));
    };
    // outputs [o0, o1): rows of a float sum, equally spaced and contiguous, in one call (sum_rows); else one by one
    auto reduce_outputs = [&](int64_t o0, int64_t o1) {
        if constexpr (std::is_same<R, SumR<T>>::value && ts::hot_type_v<T> && std::is_floating_point<T>::value &&
                      !std::is_class<Out>::value) {
            if (inner.nd == 1 && inner.st[0][0] == static_cast<int64_t>(sizeof(T)) && nd_outer == 1) {
                sum_rows<T, Out>(reinterpret_cast<const T*>(base_of(o0)), outer_strides[0], n_inner, out + o0,
                                 o1 - o0);
                return;
            }
        }
        for (int64_t o = o0; o < o1; ++o) out[o] = reduce_one(o);
    };
    const int threads = ts::threads_for(n_outer * n_inner);
    if (threads <= 1) {
        reduce_outputs(0, n_outer);
    } else if (n_outer >= threads) {
        ts::parallel_pieces(n_outer, threads, threads * ts::kPiecesPerThread, reduce_outputs);
    } else {  // few outputs, long reductions: split each reduction in pieces across threads, then merge in order
        const int64_t chunk = (n_inner + threads * ts::kPiecesPerThread - 1) / (threads * ts::kPiecesPerThread);
        const int64_t pieces = (n_inner + chunk - 1) / chunk;  // none empty
        std::vector<typename R::Acc> parts(static_cast<size_t>(pieces), R::init());
        for (int64_t o = 0; o < n_outer; ++o) {
            char* b = base_of(o);
            ts::parallel_for(pieces, threads, [&](int64_t t) {
                parts[t] = reduce_range<R, T>(inner, b, t * chunk, std::min(n_inner, (t + 1) * chunk));
            });
            typename R::Acc acc = parts[0];
            for (int64_t t = 1; t < pieces; ++t) R::merge(acc, parts[t]);
            out[o] = finish<Out>(acc);
        }
    }
}

// The dtype code each reduction writes (Note [Kernel contract]): sum/prod of unsigned integers give uint64, of signed
// integers and bool int64 (kernels/optable.py's sum_dtype).
constexpr bool is_float_code(int dt) { return (dt >= 6 && dt <= 8) || dt == 12 || dt == 13; }  // complex too
constexpr bool is_unsigned_code(int dt) { return dt == 5 || (dt >= 9 && dt <= 11); }

int reduce_out_dtype(const std::string& op, int dt) {
    if (op == "sum" || op == "prod") return is_float_code(dt) ? dt : is_unsigned_code(dt) ? 11 : 4;
    if (op == "all" || op == "any") return 0;
    if (op == "argmax" || op == "argmin") return 4;
    return dt;
}

template <class T>
void reduce_typed(const std::string& op, char* x, const Shape& os, const Shape& ost, const Shape& is,
                  const Shape& ist, char* out) {
    using SumOut = std::conditional_t<ts::is_float_v<T> || ts::is_complex_v<T>, T, ts::accum_t<T>>;
    if (op == "sum") return reduce_impl<SumR<T>, T>(x, os, ost, is, ist, reinterpret_cast<SumOut*>(out));
    if (op == "prod") return reduce_impl<ProdR<T>, T>(x, os, ost, is, ist, reinterpret_cast<SumOut*>(out));
    if (op == "all") return reduce_impl<AllR<T>, T>(x, os, ost, is, ist, reinterpret_cast<bool*>(out));
    if (op == "any") return reduce_impl<AnyR<T>, T>(x, os, ost, is, ist, reinterpret_cast<bool*>(out));
    if constexpr (!std::is_same<T, bool>::value && !ts::is_complex_v<T>) {  // complex numbers have no order
        if (op == "max") return reduce_impl<MaxR<T>, T>(x, os, ost, is, ist, reinterpret_cast<T*>(out));
        if (op == "min") return reduce_impl<MinR<T>, T>(x, os, ost, is, ist, reinterpret_cast<T*>(out));
        if (op == "argmax")
            return reduce_impl<ArgR<T, true>, T>(x, os, ost, is, ist, reinterpret_cast<int64_t*>(out));
        if (op == "argmin")
            return reduce_impl<ArgR<T, false>, T>(x, os, ost, is, ist, reinterpret_cast<int64_t*>(out));
    }
    throw std::invalid_argument("no cpu reduction " + op + " for this dtype");
}

// -- matmul: a real BLAS for float32/float64 when one was handed to us, our own loop otherwise ------------------

// Note [Matmul threads]
// ~~~~~~~~~~~~~~~~~~~~~
// One thread pool runs a product: ours (Note [Thread pool]).  OpenBLAS has a pool of its own pthreads, and both its
// threads and (then) libgomp's workers busy-wait for a while after their work; on a machine with as many cores as threads the two pools fought
// over the cores at the scheduler's pace (milliseconds), so that (128, 784) @ (784, 256) followed by a sum took
// 7-25 ms at 2 threads instead of 0.3.  So OpenBLAS runs on one thread (backends/cpu.py sets that when it loads the
// library; set_num_threads leaves it there) and a product is split here across ts::max_threads() threads of ours,
// each calling the BLAS, or our loop, on its own block of C:
//   - whole matrices of a batch, when there are at least as many as threads;
//   - else blocks of the rows of C when N <= M (each call then packs all of b, the smaller operand to copy), of its
//     columns otherwise (each packs all of a); a block is a multiple of 16 rows or columns, so that every call keeps
//     the BLAS's full register tiles;
//   - a product of fewer than grain() * kMatmulGrainScale multiply-adds per thread stays on one thread: a
//     multiply-add in a BLAS costs about a thirtieth of an elementwise element, and the threads' start-up would
//     cost more than the split saves.
// Every element of C is the sum over the whole of K taken by one call, whatever the thread count.  A product whose
// M and N are both at most 16 is one block: its K is not split (that would need a reduction across threads).
//
// The blocks are chunks of the pool (Note [Thread pool]): a thread another process has descheduled leaves its block
// to the others.  (With OpenMP's fixed shares and barrier, one SGD step of the bench's MLP under a busy neighbour
// took 1.0-1.5x its idle time with libgomp's 4 ms spin, and 5-7x with the spin bounded, because a worker that had
// gone to sleep held the barrier for the neighbour's time slice each time it was woken.)
constexpr int64_t kMatmulGrainScale = 32;
constexpr int64_t kMatmulBlockAlign = 16;

using gemm_f = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*, int);
using gemm_d = void (*)(int, int, int, int, int, int, double, const double*, int, const double*, int, double, double*,
                        int);
gemm_f sgemm = nullptr;
gemm_d dgemm = nullptr;
// cblas_cgemm and cblas_zgemm: alpha and beta by address
using gemm_c = void (*)(int, int, int, int, int, int, const void*, const void*, int, const void*, int, const void*,
                        void*, int);
gemm_c cgemm = nullptr;
gemm_c zgemm = nullptr;
constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;

// Whether a BLAS can read a (rows, cols) matrix with these element strides, and how; its leading dimension must fit
// the BLAS's int (a wrapped one would send the BLAS outside the checked bytes).
template <class T>
bool blas_layout(int64_t rs, int64_t cs, int64_t rows, int64_t cols, int& trans, int& ld) {
    constexpr int64_t kIntMax = std::numeric_limits<int>::max();
    if (cs == 1 && (rs >= std::max<int64_t>(1, cols) || rows == 1)) {
        const int64_t l = std::max<int64_t>({rs, cols, 1});
        trans = kNoTrans;
        ld = static_cast<int>(std::min(l, kIntMax));
        return l <= kIntMax;
    }
    if (rs == 1 && (cs >= std::max<int64_t>(1, rows) || cols == 1)) {
        const int64_t l = std::max<int64_t>({cs, rows, 1});
        trans = kTrans;
        ld = static_cast<int>(std::min(l, kIntMax));
        return l <= kIntMax;
    }
    return false;
}

// One block on the calling thread: c (M, N) with row stride ldc = a (M, K) @ b (K, N), strides in elements; with
// ``accumulate`` c += a @ b (BLAS's beta = 1: the fused linear's bias, written into c first).
template <class T>
void matmul_block(const T* a, int64_t ars, int64_t acs, const T* b, int64_t brs, int64_t bcs, T* c, int64_t ldc,
                  int64_t M, int64_t N, int64_t K, bool accumulate) {
    if constexpr (ts::is_complex_v<T>) {
        int ta, tb, lda, ldb;
        gemm_c gemm = std::is_same<T, std::complex<float>>::value ? cgemm : zgemm;
        const bool blas_shape = M < (1ll << 31) && N < (1ll << 31) && K < (1ll << 31) && ldc < (1ll << 31) &&
                                blas_layout<T>(ars, acs, M, K, ta, lda) && blas_layout<T>(brs, bcs, K, N, tb, ldb);
        if (gemm && blas_shape) {
            const T one(1), beta(accumulate ? 1 : 0);
            gemm(kRowMajor, ta, tb, int(M), int(N), int(K), &one, a, lda, b, ldb, &beta, c, int(ldc));
            return;
        }
    }
    if constexpr (std::is_same<T, float>::value || std::is_same<T, double>::value) {
        int ta, tb, lda, ldb;
        const bool blas_shape = M < (1ll << 31) && N < (1ll << 31) && K < (1ll << 31) && ldc < (1ll << 31) &&
                                blas_layout<T>(ars, acs, M, K, ta, lda) && blas_layout<T>(brs, bcs, K, N, tb, ldb);
        if constexpr (std::is_same<T, float>::value) {
            if (sgemm && blas_shape) {
                sgemm(kRowMajor, ta, tb, int(M), int(N), int(K), 1.0f, a, lda, b, ldb, accumulate ? 1.0f : 0.0f, c,
                      int(ldc));
                return;
            }
        } else {
            if (dgemm && blas_shape) {
                dgemm(kRowMajor, ta, tb, int(M), int(N), int(K), 1.0, a, lda, b, ldb, accumulate ? 1.0 : 0.0, c,
                      int(ldc));
                return;
            }
        }
    }
    using C = std::conditional_t<ts::is_float_v<T>, std::conditional_t<std::is_same<T, double>::value, double, float>,
                                 std::conditional_t<std::is_same<T, bool>::value, int, ts::compute_t<T>>>;
    std::vector<C> acc(static_cast<size_t>(N));
    for (int64_t i = 0; i < M; ++i) {
        if (accumulate)
            for (int64_t j = 0; j < N; ++j) acc[j] = static_cast<C>(static_cast<ts::compute_t<T>>(c[i * ldc + j]));
        else
            std::fill(acc.begin(), acc.end(), C(0));
        for (int64_t k = 0; k < K; ++k) {
            const C aik = static_cast<C>(static_cast<ts::compute_t<T>>(a[i * ars + k * acs]));
            const T* brow = b + k * brs;
            if (bcs == 1)
                for (int64_t j = 0; j < N; ++j) acc[j] += aik * static_cast<C>(static_cast<ts::compute_t<T>>(brow[j]));
            else
                for (int64_t j = 0; j < N; ++j)
                    acc[j] += aik * static_cast<C>(static_cast<ts::compute_t<T>>(brow[j * bcs]));
        }
        for (int64_t j = 0; j < N; ++j) c[i * ldc + j] = static_cast<T>(acc[j]);
    }
}

// The batched product, split across threads as Note [Matmul threads] says.
template <class T>
void matmul_typed(const Shape& batch, char* out, char* a, const Shape& abs, int64_t ars, int64_t acs, char* b,
                  const Shape& bbs, int64_t brs, int64_t bcs, int64_t M, int64_t N, int64_t K,
                  bool accumulate = false) {
    int64_t nb = 1;
    for (auto n : batch) nb *= n;
    if (nb == 0 || M == 0 || N == 0) return;
    const int nd = static_cast<int>(batch.size());
    // the work in multiply-adds (at least M * N: a K of 0 still writes zeros); no overflow, the entry point checked
    // batch * M * N * K
    const int64_t work = nb * M * N * std::max<int64_t>(K, 1);
    const int64_t per_thread = ts::grain() * kMatmulGrainScale;
    const int threads = static_cast<int>(std::min<int64_t>(ts::max_threads(), std::max<int64_t>(1, work / per_thread)));
    // blocks per matrix: 1 when the batch alone keeps every thread busy
    const bool by_rows = N <= M;
    const int64_t split = by_rows ? M : N;
    int64_t parts = 1, block = split;
    if (threads > nb) {
        const int64_t want = (threads + nb - 1) / nb;
        block = (split + want - 1) / want;
        block = (block + kMatmulBlockAlign - 1) / kMatmulBlockAlign * kMatmulBlockAlign;
        parts = (split + block - 1) / block;
    }
    const int64_t items = nb * parts;
    auto run = [&](int64_t item) {
        const int64_t bi = item / parts, part = item % parts;
        int64_t rem = bi, aoff = 0, boff = 0;
        for (int d = nd - 1; d >= 0; --d) {
            const int64_t idx = rem % batch[d];
            rem /= batch[d];
            aoff += idx * abs[d];
            boff += idx * bbs[d];
        }
        const T* ap = reinterpret_cast<const T*>(a) + aoff;
        const T* bp = reinterpret_cast<const T*>(b) + boff;
        T* cp = reinterpret_cast<T*>(out) + bi * M * N;
        const int64_t lo = part * block, hi = std::min(split, lo + block);
        if (by_rows)
            matmul_block<T>(ap + lo * ars, ars, acs, bp, brs, bcs, cp + lo * N, N, hi - lo, N, K, accumulate);
        else
            matmul_block<T>(ap, ars, acs, bp + lo * bcs, brs, bcs, cp + lo, N, M, hi - lo, K, accumulate);
    };
    const int team = static_cast<int>(std::min<int64_t>(threads, items));
    if (team <= 1) {
        for (int64_t item = 0; item < items; ++item) run(item);
        return;
    }
    ts::parallel_for(items, team, run);
}

// -- softmax along one axis of a contiguous tensor viewed as (outer, n, inner) --------------------------------------

// exp for float in plain arithmetic (Cephes' expf: a degree-6 polynomial on [-ln2/2, ln2/2] and a power of two
// built from bits), so that softmax's loops vectorise; libm's expf is a call per element.  Within 2 ulp of expf for
// x <= 0, the only arguments softmax_row passes (x - max with a finite max).  The clamp sends NaN to ``lo`` as well
// (a max/min written so that it vectorises), so the float-to-int conversion below only sees values in [-126, 128]
// (casting NaN or inf to int is undefined behaviour, see Note [Float to integer casts] in dispatch/dtypes.py).  NaN
// therefore gives a number, not NaN: callers deal with NaN first (softmax_row answers NaN rows without calling this).
// Written once for F = float and F = v8f, 8 floats in GCC's vector extension: the loops use the vector form, because
// GCC 12 does not vectorise the scalar one for AVX2 (its jump threading turns the clamps into branches first), and
// the scalar form takes a row's last few elements with the same operations, so every element gets the same bits.
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));
inline float pick(bool m, float a, float b) { return m ? a : b; }
inline v8f pick(v8i m, v8f a, v8f b) { return m ? a : b; }  // per lane
inline int32_t floor_to_int(float t) {  // floor(t) for t in int range, without a libm call
    const int32_t n = static_cast<int32_t>(t);
    return n - (t < static_cast<float>(n));
}
inline v8i floor_to_int(v8f t) {
    const v8i n = __builtin_convertvector(t, v8i);
    return n + (t < __builtin_convertvector(n, v8f));  // a true compare is -1 in a lane
}
inline float to_float(int32_t n) { return static_cast<float>(n); }
inline v8f to_float(v8i n) { return __builtin_convertvector(n, v8f); }
inline float from_bits(int32_t b) {
    float f;
    std::memcpy(&f, &b, sizeof f);
    return f;
}
inline v8f from_bits(v8i b) { return (v8f)b; }  // the same bits

template <class F>
__attribute__((always_inline)) inline F exp_poly(F x) {
    const F lo = F{} - 87.3365447504019f, hi = F{} + 88.3762626647949f;
    const F above = pick(x > lo, x, lo);  // NaN gives lo
    const F xc = pick(above < hi, above, hi);
    const F t = xc * 1.44269504088896341f + 0.5f;
    const auto n = floor_to_int(t);
    const F fn = to_float(n);
    const F r = (xc - fn * 0.693359375f) + fn * 2.12194440e-4f;
    F p = F{} + 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    const F scale = from_bits((n + 127) << 23);
    return pick(x < lo, F{}, p * scale);
}

// y = exp(x - mx) over a row.  With AVX-512, tensorswitch's own vector exp (Note [Own vector exp] in vexp.h); else
// with libmvec (Note [Vector math]) through libm, vectorised: its AVX2 expf (with FMA) measured 1.3x faster than
// exp_poly's vector form here; elsewhere float takes exp_poly, double libm's exp.
__attribute__((always_inline)) inline void exp_shifted(const float* x, float* y, float mx, int64_t n) {
    if (ts::own_vector_exp()) return ts::exp_shifted_f32_avx512(x, y, mx, n);  // Note [Own vector exp] in vexp.h
#if TS_VECTOR_MATH
    for (int64_t j = 0; j < n; ++j) y[j] = std::exp(x[j] - mx);
#else
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        const v8f v = exp_poly(load_vector<v8f>(x + j) - mx);
        std::memcpy(y + j, &v, sizeof v);
    }
    for (; j < n; ++j) y[j] = exp_poly(x[j] - mx);
#endif
}
__attribute__((always_inline)) inline void exp_shifted(const double* x, double* y, double mx, int64_t n) {
    for (int64_t j = 0; j < n; ++j) y[j] = std::exp(x[j] - mx);
}

// A row's sum in 32 bytes x 4 of lanes (Note [Vectorised reductions]), combined as a tree.
template <class C>
__attribute__((always_inline)) inline C row_sum(const C* v, int64_t n) {
    typedef C V __attribute__((vector_size(32)));
    constexpr int W = 32 / sizeof(C);
    V lanes[4] = {};
    int64_t j = 0;
    for (; j + 4 * W <= n; j += 4 * W)
        for (int k = 0; k < 4; ++k) lanes[k] += load_vector<V>(v + j + k * W);
    const V all = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
    C part[W];
    std::memcpy(part, &all, sizeof part);
    for (; j < n; ++j) part[j % W] += v[j];
    for (int w = W / 2; w >= 1; w /= 2)
        for (int k = 0; k < w; ++k) part[k] += part[k + w];
    return part[0];
}

// Note [Softmax of non-finite rows]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// PyTorch's answer on every dtype: a row that holds a NaN, whose max is +inf, or that is all -inf gives NaN in every
// position of softmax and log_softmax (x - max is NaN there: inf - inf, -inf + inf).  A row with some -inf and a
// finite max is ordinary: exp(-inf - max) = 0, so softmax gives 0 there and log_softmax -inf.

// One contiguous row of a float or double tensor: max, exp into the output, sum, scale; four vectorised passes.
template <class C>
TS_HOT void softmax_row(bool log, const C* x, C* y, int64_t n) {
    if (n <= 0) return;
    bool nan;
    const C mx = extreme_run<C, true>(x, n, nan);
    if (nan || !(mx < std::numeric_limits<C>::infinity() && mx > -std::numeric_limits<C>::infinity())) {
        for (int64_t j = 0; j < n; ++j) y[j] = std::numeric_limits<C>::quiet_NaN();
        return;
    }
    exp_shifted(x, y, mx, n);
    const C sum = row_sum(y, n);
    if (log) {
        // (x - max) - log(sum), not x - (max + log(sum)): the latter cancels away log(sum) when |max| is large
        const C log_sum = static_cast<C>(std::log(static_cast<double>(sum)));
        for (int64_t j = 0; j < n; ++j) y[j] = (x[j] - mx) - log_sum;
    } else {
        const C inv = C(1) / sum;
        for (int64_t j = 0; j < n; ++j) y[j] *= inv;
    }
}

// Each element of softmax weighs this many cheap ones (Note [Elementwise grain]): four passes, one with an exp.
constexpr int64_t kSoftmaxCost = 4;

template <class T>
void softmax_typed(bool log, const T* x, T* out, int64_t outer, int64_t n, int64_t inner) {
    using C = std::conditional_t<std::is_same<T, double>::value, double, float>;
    const int64_t rows = outer * inner;
    const bool in_place = std::is_same<T, C>::value && inner == 1;  // the common case: contiguous rows of C
    auto run = [&](int64_t r0, int64_t r1) {
        std::vector<C> row(in_place ? 0 : n), res(in_place ? 0 : n);
        for (int64_t r = r0; r < r1; ++r) {
            const int64_t o = r / inner, i = r % inner;
            const T* xr = x + o * n * inner + i;
            T* yr = out + o * n * inner + i;
            if constexpr (std::is_same<T, C>::value) {
                if (in_place) {
                    softmax_row<C>(log, xr, yr, n);
                    continue;
                }
            }
            for (int64_t j = 0; j < n; ++j) row[j] = static_cast<C>(xr[j * inner]);
            softmax_row<C>(log, row.data(), res.data(), n);
            for (int64_t j = 0; j < n; ++j) yr[j * inner] = static_cast<T>(res[j]);
        }
    };
    ts::parallel_rows(rows, rows * n * kSoftmaxCost, run);
}

// -- cross entropy's common case: nll of log_softmax over the rows of (N, C) logits -----------------------------------

// Note [Fused cross entropy]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~
// nn.functional.cross_entropy with class indices, no weight, no smoothing and a mean or sum is, composed, a check of
// the targets (two reductions, two host reads), log_softmax, take_along_axis, a sum and a division forward, and
// exp(log_softmax), a product, a negation and scatter_add backward: nine dispatches around kernels of a few hundred
// elements in a training step.  These two kernels are the whole of it (Note [Kernel contract] rows nll_log_softmax
// and nll_log_softmax_backward).  Rows are independent and go to the thread pool; the row losses are summed in one
// fixed order in double, so the result does not depend on the thread count.  A row that is not finite (a NaN, a max
// of +inf, all -inf) gives NaN, as log_softmax does (Note [Softmax of non-finite rows]).

// The first target outside [0, C) in row order, or -1 when every target is a class; ``value`` receives it.
inline int64_t first_bad_target(const int64_t* t, int64_t ts_, int64_t n, int64_t c, int64_t& value) {
    for (int64_t i = 0; i < n; ++i) {
        const int64_t v = t[i * ts_];
        if (v < 0 || v >= c) {
            value = v;
            return i;
        }
    }
    return -1;
}

// -log_softmax(row)[target] of one row of C (compute type), contiguous, with ``scratch`` of n elements
template <class C>
TS_HOT C nll_row(const C* x, int64_t n, int64_t target, C* scratch) {
    bool nan;
    const C mx = extreme_run<C, true>(x, n, nan);
    if (nan || !(mx < std::numeric_limits<C>::infinity() && mx > -std::numeric_limits<C>::infinity()))
        return std::numeric_limits<C>::quiet_NaN();
    exp_shifted(x, scratch, mx, n);
    const C sum = row_sum(scratch, n);
    const C log_sum = static_cast<C>(std::log(static_cast<double>(sum)));
    return -((x[target] - mx) - log_sum);  // log_softmax's own rounding (softmax_row), then the negation
}

template <class T>
double nll_log_softmax_typed(const T* x, int64_t n, int64_t c, int64_t rs, int64_t cs, const int64_t* t,
                             int64_t tst) {
    using C = std::conditional_t<std::is_same<T, double>::value, double, float>;
    std::vector<C> losses(static_cast<size_t>(n));
    auto run = [&](int64_t r0, int64_t r1) {
        std::vector<C> row(static_cast<size_t>(c)), scratch(static_cast<size_t>(c));
        for (int64_t r = r0; r < r1; ++r) {
            const T* xr = x + r * rs;
            const C* src;
            if (std::is_same<T, C>::value && cs == 1) {
                src = reinterpret_cast<const C*>(xr);
            } else {
                for (int64_t j = 0; j < c; ++j) row[j] = static_cast<C>(xr[j * cs]);
                src = row.data();
            }
            losses[r] = nll_row<C>(src, c, t[r * tst], scratch.data());
        }
    };
    ts::parallel_rows(n, n * c * kSoftmaxCost, run);
    double total = 0;
    for (int64_t r = 0; r < n; ++r) total += static_cast<double>(losses[r]);
    return total;
}

// out (N, C) contiguous: (softmax(x) - one_hot(target)) * scale, as p * scale + (-scale) at the target, with
// p = exp(log_softmax(x))
template <class T>
void nll_log_softmax_backward_typed(T* out, const T* x, int64_t n, int64_t c, int64_t rs, int64_t cs,
                                    const int64_t* t, int64_t tst,
                                    std::conditional_t<std::is_same<T, double>::value, double, float> scale) {
    using C = std::conditional_t<std::is_same<T, double>::value, double, float>;
    auto run = [&](int64_t r0, int64_t r1) {
        std::vector<C> row(static_cast<size_t>(c)), res(static_cast<size_t>(c));
        for (int64_t r = r0; r < r1; ++r) {
            const T* xr = x + r * rs;
            T* yr = out + r * c;
            const C* src;
            C* dst;
            if (std::is_same<T, C>::value && cs == 1) {
                src = reinterpret_cast<const C*>(xr);
            } else {
                for (int64_t j = 0; j < c; ++j) row[j] = static_cast<C>(xr[j * cs]);
                src = row.data();
            }
            dst = std::is_same<T, C>::value ? reinterpret_cast<C*>(yr) : res.data();
            // p = exp(log_softmax(x)), not exp(x - max) / sum: the composition's arithmetic, which every backend's
            // log_softmax and exp share, so that training runs on two devices stay as close as they were
            softmax_row<C>(true, src, dst, c);
            exp_shifted(dst, dst, C(0), c);
            for (int64_t j = 0; j < c; ++j) dst[j] *= scale;
            const int64_t k = t[r * tst];
            dst[k] = dst[k] + (-scale);
            if (!std::is_same<T, C>::value)
                for (int64_t j = 0; j < c; ++j) yr[j] = static_cast<T>(dst[j]);
        }
    };
    ts::parallel_rows(n, n * c * kSoftmaxCost, run);
}

// -- entry points -------------------------------------------------------------------------------------------------

// The two hottest entry points (every contiguous elementwise op) as METH_FASTCALL functions: pybind11's general
// argument machinery costs about 0.3 us for ten arguments, more than the whole loop over a small tensor.
bool int_args(PyObject* const* args, Py_ssize_t n, int64_t* out, const int* which, int count) {
    for (int i = 0; i < count; ++i) {
        if (which[i] >= n) return false;
        out[i] = PyLong_AsLongLong(args[which[i]]);
        if (out[i] == -1 && PyErr_Occurred()) return false;
    }
    return true;
}

// The data of a contiguous operand of n elements at ``offset``, or nullptr with IndexError set (Note [Bounds checks]).
inline char* contiguous_operand(PyObject* memory, int64_t offset, int64_t n, int dt, const char* what) {
    const Span span = span_of(memory);  // either kind of buffer (Note [Foreign memory])
    if (!contiguous_inside(offset, n, span.nbytes, dt)) {
        PyErr_Format(PyExc_IndexError, "%s: %lld contiguous elements of %d bytes from offset %lld reach outside a "
                     "buffer of %zu bytes", what, static_cast<long long>(n), ts::kItemsize[dt],
                     static_cast<long long>(offset), span.nbytes);
        return nullptr;
    }
    return span.data + offset * ts::kItemsize[dt];
}

template <int Arity>
PyObject* elementwise_contig(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
    // (op, dtype, out dtype, n, out, out offset, x, x offset[, y, y offset])
    constexpr int kArgs = 6 + 2 * Arity;
    constexpr const char* kName = Arity == 1 ? "unary_contig" : "binary_contig";
    if (nargs != kArgs) {
        PyErr_SetString(PyExc_TypeError, Arity == 1 ? "unary_contig takes 8 arguments" : "binary_contig takes 10 "
                                                                                          "arguments");
        return nullptr;
    }
    const int which[] = {0, 1, 2, 3, 5, 7, 9};
    int64_t v[7];
    if (!int_args(args, nargs, v, which, 5 + Arity)) return nullptr;  // the four codes and one offset per operand
    const int op = static_cast<int>(v[0]), dt = static_cast<int>(v[1]), odt = static_cast<int>(v[2]);
    const int64_t n = v[3];
    try {
        if constexpr (Arity == 1) {
            auto fn = unary_fn(op, dt, odt);
            char* p[2] = {contiguous_operand(args[4], v[4], n, odt, kName),
                          contiguous_operand(args[6], v[5], n, dt, kName)};
            if (!p[0] || !p[1]) return nullptr;
            const int64_t cost = unary_cost(op);
            MaybeRelease r(n * cost);
            fn->run(flat<2>(n, {odt, dt}), p, cost);
        } else {
            auto fn = binary_fn(op, dt, odt);
            char* p[3] = {contiguous_operand(args[4], v[4], n, odt, kName),
                          contiguous_operand(args[6], v[5], n, dt, kName),
                          contiguous_operand(args[8], v[6], n, dt, kName)};
            if (!p[0] || !p[1] || !p[2]) return nullptr;
            const int64_t cost = binary_cost(op);
            MaybeRelease r(n * cost);
            fn->run(flat<3>(n, {odt, dt, dt}), p, cost);
        }
    } catch (py::error_already_set& e) {
        e.restore();
        return nullptr;
    } catch (const std::exception& e) {
        PyErr_SetString(PyExc_ValueError, e.what());
        return nullptr;
    }
    Py_RETURN_NONE;
}

}  // namespace (reopened below)
namespace ts {  // kernels/cpu/autograd.cpp (Note [Recording in C])
int track_declines(PyObject* inputs);
bool track_ready();
PyObject* new_tensor(PyObject* buffer, PyObject* shape, PyObject* strides, PyObject* dtype, PyObject* device,
                           PyObject* size, bool grad);
void mark_permuted(PyObject* t);
void tensor_layout(PyObject* t, PyObject** buffer, PyObject** offset, PyObject** shape, PyObject** strides,
                   PyObject** size, PyObject** device);
bool plain_tensor_meta(PyObject* t, PyObject** dtype, PyObject** is_contiguous);
PyObject* track_node(PyObject* name, PyObject* formula, PyObject* out, PyObject* inputs, PyObject* saves);
}  // namespace ts
namespace {

// The C++ exception being handled, as the Python error (call inside a catch block; the one-call entry points'
// shared tail): py::error_already_set restored, std::out_of_range as IndexError (a bounds check), any other
// std::exception as ValueError.
void raise_current() {
    try {
        throw;
    } catch (py::error_already_set& e) {
        e.restore();
    } catch (const std::out_of_range& e) {
        PyErr_SetString(PyExc_IndexError, e.what());
    } catch (const std::exception& e) {
        PyErr_SetString(PyExc_ValueError, e.what());
    } catch (...) {
        PyErr_SetString(PyExc_RuntimeError, "an unknown C++ exception in tensorswitch's cpu module");
    }
}

// A new tensor over memory ``handle`` (any backend's; a reference is stolen) of ``nbytes``: the Buffer tuple
// (handle, nbytes, device, version) of dispatch/backend.py and its Tensor (a GradTensor that requires grad when
// ``grad``).  nullptr with an exception set when it cannot be made.
PyObject* wrap_result(PyObject* handle, size_t nbytes, PyObject* buffer_type_obj, PyObject* device, PyObject* shape,
                      PyObject* strides, PyObject* out_dtype, PyObject* size, bool grad) {
    PyObject* version = PyList_New(1);
    PyObject* count = PyLong_FromSize_t(nbytes);
    auto* buffer_type = reinterpret_cast<PyTypeObject*>(buffer_type_obj);
    PyObject* buffer = version && count ? buffer_type->tp_alloc(buffer_type, 4) : nullptr;
    if (!buffer) {
        Py_XDECREF(version);
        Py_XDECREF(count);
        Py_DECREF(handle);
        return nullptr;
    }
    PyList_SET_ITEM(version, 0, PyLong_FromLong(0));
    PyTuple_SET_ITEM(buffer, 0, handle);
    PyTuple_SET_ITEM(buffer, 1, count);
    Py_INCREF(device);
    PyTuple_SET_ITEM(buffer, 2, device);
    PyTuple_SET_ITEM(buffer, 3, version);
    PyObject* out = ts::new_tensor(buffer, shape, strides, out_dtype, device, size, grad);
    Py_DECREF(buffer);
    return out;
}

// wrap_result over ``nbytes`` of fresh cpu memory.  nullptr with no exception set when the pool has no memory (the
// Python path then empties the cache, retries and words the error).
PyObject* new_result(size_t nbytes, PyObject* buffer_type_obj, PyObject* device, PyObject* shape, PyObject* strides,
                     PyObject* out_dtype, PyObject* size, bool grad) {
    PyObject* mem = allocate(nbytes);
    if (!mem) {
        PyErr_Clear();
        return nullptr;
    }
    return wrap_result(mem, nbytes, buffer_type_obj, device, shape, strides, out_dtype, size, grad);
}

// The memory of a tensor new_result made (borrowed).
PyObject* result_memory(PyObject* t) {
    PyObject *buf, *off, *shape, *strides, *size, *device;
    ts::tensor_layout(t, &buf, &off, &shape, &strides, &size, &device);
    return PyTuple_GET_ITEM(buf, 0);
}

// The result of a binary op of a contiguous tensor ``a`` with ``bt`` (contiguous of a's shape, bs = 1, or a broadcast
// scalar, bs = 0), computed: new memory, its tensor (a GradTensor that requires grad when ``grad``) and the loop.
// ``permuted``: a is instead dense in another dim order (a.T, Note [Elementwise result layout]) and bt shares its
// strides (or is a scalar); the elements are one run all the same, and the result takes a's strides.
// nullptr with an exception set, or with none set when the Python path should do it all (no memory: it retries
// after emptying the cache and words the error).
PyObject* binary_result(int op, int dt, int odt, PyObject* a, PyObject* bt, int64_t bs, PyObject* buffer_type_obj,
                        PyObject* out_dtype, bool grad, bool permuted = false) {
    if (!ts::track_ready()) return nullptr;  // init_track has not run: no slot offsets yet, the Python path
    PyObject *abuf, *aoff, *shape, *strides, *size, *device, *bbuf, *boff, *bshape, *bstrides, *bsize, *bdevice;
    ts::tensor_layout(a, &abuf, &aoff, &shape, &strides, &size, &device);
    ts::tensor_layout(bt, &bbuf, &boff, &bshape, &bstrides, &bsize, &bdevice);
    if (!abuf || !aoff || !shape || !strides || !size || !device || !bbuf || !boff || !PyTuple_Check(abuf) ||
        !PyTuple_Check(bbuf) || PyTuple_GET_SIZE(abuf) < 1 || PyTuple_GET_SIZE(bbuf) < 1 ||
        !PyType_Check(buffer_type_obj))
        return nullptr;
    const int64_t n = PyLong_AsLongLong(size), ao = PyLong_AsLongLong(aoff), bo = PyLong_AsLongLong(boff);
    if (PyErr_Occurred()) return nullptr;
    if (n < 0 || (bs != 0 && bs != 1)) {
        PyErr_SetString(PyExc_ValueError, "binary_result: a bad size or b stride");
        return nullptr;
    }
    PyObject* out = nullptr;
    try {
        auto fn = binary_fn(op, dt, odt);
        out = new_result(static_cast<size_t>(n) * static_cast<size_t>(itemsize(odt)), buffer_type_obj, device, shape,
                         strides, out_dtype, size, grad);
        if (!out) return nullptr;
        if (permuted) ts::mark_permuted(out);
        if (n) {
            char* p[3] = {data_of(Memory(result_memory(out))),
                          contiguous_operand(PyTuple_GET_ITEM(abuf, 0), ao, n, dt, "binary: a"),
                          contiguous_operand(PyTuple_GET_ITEM(bbuf, 0), bo, bs ? n : 1, dt, "binary: b")};
            if (!p[1] || !p[2]) {
                Py_DECREF(out);
                return nullptr;
            }
            auto d = flat<3>(n, {odt, dt, dt});
            d.st[2][0] *= bs;
            const int64_t cost = binary_cost(op);
            MaybeRelease r(n * cost);
            fn->run(d, p, cost);
        }
    } catch (...) {
        raise_current();
        Py_XDECREF(out);
        return nullptr;
    }
    return out;
}

// binary_new(op, dtype, out dtype, a, bt, layout, buffer type, out dtype): the dispatcher's fast path of a cpu
// elementwise op (binary_op in dispatch/dispatcher.py) in one call: the result's memory, its Tensor and the loop,
// where Python took three frames and a kernel adapter.  layout: b's stride (1, or 0 for a broadcast scalar), plus 2
// when a is dense in a permuted order (binary_result's ``permuted``).  NotImplemented: the Python path does it.
PyObject* binary_new(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
    if (nargs != 8) {
        PyErr_SetString(PyExc_TypeError, "binary_new takes 8 arguments");
        return nullptr;
    }
    const int which[] = {0, 1, 2, 5};
    int64_t v[4];
    if (!int_args(args, nargs, v, which, 4)) return nullptr;
    PyObject* out = binary_result(static_cast<int>(v[0]), static_cast<int>(v[1]), static_cast<int>(v[2]), args[3],
                                  args[4], v[3] & 1, args[6], args[7], false, (v[3] & 2) != 0);
    if (!out && !PyErr_Occurred()) Py_RETURN_NOTIMPLEMENTED;
    return out;
}

// An elementwise op of a tracked contiguous tensor with a contiguous one of its shape (or a broadcast scalar), all
// in one call: the result's memory, its GradTensor, the loop and the node (Note [Recording in C]).  What
// GradTensor.__add__ and friends (dispatch/derivatives.py) call on cpu.
//   binary_grad(op, dtype, out dtype, a, b, bt, b stride (1 or 0), name, formula, saves, buffer type, out dtype)
// b is the operand as the user gave it (a tensor or a float), bt its tensor (b, or a scalar view of the float).
// Returns the tracked result, or NotImplemented having done nothing (the Python path then does it all).
PyObject* binary_grad(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
    if (nargs != 12) {
        PyErr_SetString(PyExc_TypeError, "binary_grad takes 12 arguments");
        return nullptr;
    }
    const int which[] = {0, 1, 2, 6};
    int64_t v[4];
    if (!int_args(args, nargs, v, which, 4)) return nullptr;
    PyObject* inputs = PyTuple_Pack(2, args[3], args[4]);
    if (!inputs) return nullptr;
    const int declines = ts::track_declines(inputs);
    if (declines) {
        Py_DECREF(inputs);
        if (declines < 0) return nullptr;
        Py_RETURN_NOTIMPLEMENTED;
    }
    PyObject* out = binary_result(static_cast<int>(v[0]), static_cast<int>(v[1]), static_cast<int>(v[2]), args[3],
                                  args[5], v[3], args[10], args[11], true);
    if (!out) {
        Py_DECREF(inputs);
        if (PyErr_Occurred()) return nullptr;
        Py_RETURN_NOTIMPLEMENTED;
    }
    PyObject* result = ts::track_node(args[7], args[8], out, inputs, args[9]);
    Py_DECREF(out);
    Py_DECREF(inputs);
    return result;
}

// launch_binary(launches, a, bt, b stride (1 or 0), buffer type, out dtype): binary_new for a device whose kernels are
// launched, not run here (the opencl backend: Note [OpenCL launches] in kernels/opencl/launch.cpp), in one call.
// ``launches`` is what the backend registered for the (kernel, device) in registry.LAUNCHED_BINARY: (contiguous
// launch, broadcast-b launch, work-group size, allocate).  allocate(nbytes) gives the memory's handle, as the
// backend's allocate does; a launch takes (global size, local size, out, out offset, a, a offset, b, b offset, n).
// NotImplemented having launched nothing when any step fails: the Python path then does it all and words the error.
// Interned names and constants of the one-call paths below (made at import)
PyObject *g_zero, *g_itemsize, *g_trace, *g_kind, *g_type, *g_index, *g_buffer_type;

// launch_binary's work: the result, or nullptr with no exception set where the Python path should do it all.
PyObject* launch_result(PyObject* spec, PyObject* a, PyObject* bt, long bs, PyObject* buffer_type_obj,
                        PyObject* out_dtype) {
    if (!ts::track_ready() || !PyTuple_Check(spec) || PyTuple_GET_SIZE(spec) != 4 || !PyType_Check(buffer_type_obj) ||
        (bs != 0 && bs != 1))
        return nullptr;
    PyObject *abuf, *aoff, *shape, *strides, *size, *device, *bbuf, *boff, *bshape, *bstrides, *bsize, *bdevice;
    ts::tensor_layout(a, &abuf, &aoff, &shape, &strides, &size, &device);
    ts::tensor_layout(bt, &bbuf, &boff, &bshape, &bstrides, &bsize, &bdevice);
    if (!abuf || !aoff || !shape || !strides || !size || !device || !bbuf || !boff || !PyTuple_Check(abuf) ||
        !PyTuple_Check(bbuf) || PyTuple_GET_SIZE(abuf) < 1 || PyTuple_GET_SIZE(bbuf) < 1)
        return nullptr;
    const int64_t n = PyLong_AsLongLong(size), local = PyLong_AsLongLong(PyTuple_GET_ITEM(spec, 2));
    PyObject* itemsize_obj = PyObject_GetAttr(out_dtype, g_itemsize);
    const int64_t itemsize_out = itemsize_obj ? PyLong_AsLongLong(itemsize_obj) : -1;
    Py_XDECREF(itemsize_obj);
    if (PyErr_Occurred()) return nullptr;
    if (n <= 0 || local <= 0 || itemsize_out <= 0) return nullptr;  // nothing to launch: the Python path

    PyObject* nbytes = PyLong_FromLongLong(n * itemsize_out);
    if (!nbytes) return nullptr;
    PyObject* handle = PyObject_CallOneArg(PyTuple_GET_ITEM(spec, 3), nbytes);
    Py_DECREF(nbytes);
    if (!handle) {  // out of memory: the Python path empties the cache, retries and words the error
        PyErr_Clear();
        return nullptr;
    }
    Py_INCREF(handle);  // one reference for the Buffer, one for the launch below
    PyObject* out = wrap_result(handle, static_cast<size_t>(n * itemsize_out), buffer_type_obj, device, shape, strides,
                                out_dtype, size, false);
    if (!out) {
        Py_DECREF(handle);
        return nullptr;
    }
    PyObject* global = PyLong_FromLongLong((n + local - 1) / local * local);
    PyObject* result = nullptr;
    if (global) {
        PyObject* call[] = {global, PyTuple_GET_ITEM(spec, 2), handle, g_zero, PyTuple_GET_ITEM(abuf, 0), aoff,
                            PyTuple_GET_ITEM(bbuf, 0), boff, size};
        result = PyObject_Vectorcall(PyTuple_GET_ITEM(spec, bs ? 0 : 1), call, 9, nullptr);
    }
    Py_XDECREF(global);
    Py_DECREF(handle);
    if (!result) {  // a refused launch: the Python path repeats it through the driver's own call for its error
        Py_DECREF(out);
        PyErr_Clear();
        return nullptr;
    }
    Py_DECREF(result);
    return out;
}

PyObject* launch_binary(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "launch_binary takes 6 arguments");
        return nullptr;
    }
    const long bs = PyLong_AsLong(args[3]);
    if (bs == -1 && PyErr_Occurred()) return nullptr;
    PyObject* out = launch_result(args[0], args[1], args[2], bs, args[4], args[5]);
    if (!out && !PyErr_Occurred()) Py_RETURN_NOTIMPLEMENTED;
    return out;
}

// Note [Binary ops in C]
// ~~~~~~~~~~~~~~~~~~~~~~
// ts.add and Tensor.__add__ (and every binary elementwise op's forward form: dispatcher.BINARY) are a FastBinary:
// a C callable that takes the most common case itself - two plain Tensors (not GradTensors) of one dtype and one
// device, equal shapes, both contiguous, tracing off, and a kernel the dispatcher runs in one call (binary_new's
// built-in cpu kernels, launch_binary's launched ones) - and hands every other call, as it came, to the Python
// binary_op it wraps (dispatch/dispatcher.py), which decides exactly as before: scalars, promotion, broadcasting,
// errors.  The Python function's frame, before it reached binary_new, was 0.37 us of an opencl add on 10 elements
// (0.9 in all) and half of a cpu one's.  The checks read the tensors' slots (init_track's offsets) and the
// dispatcher's own tables, which FastBinary holds: registry.by_op[op] ({(device type, dtype): kernel}), the
// registry's BUILTIN_CPU_BINARY and LAUNCHED_BINARY, and the dispatcher's globals for _TRACE, looked up per call so
// that set_trace() takes effect at once.  As a method descriptor, ``a + b`` calls it with (a, b) and no bound method
// is made; ``a.__add__`` still gives a bound method.  Its __dict__ holds __name__, __doc__, __module__ and
// __wrapped__ (the Python function: inspect.signature finds its parameters there).
struct FastBinary {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject* dict;
    PyObject* slow;        // the Python binary_op
    PyObject* kernels;     // {(device type, dtype): kernel}
    PyObject* cpu;         // registry.BUILTIN_CPU_BINARY: {kernel: (op, dtype, out dtype) codes}
    PyObject* launched;    // registry.LAUNCHED_BINARY: {kernel: {device index: launch spec}}
    PyObject* globals;     // the dispatcher's module dict
    PyObject* out_dtype;   // the result dtype object for every input dtype (bool, of comparisons), or None
    int to_float;          // integer inputs compute in float: the Python path
};

// FastBinary's case, or nullptr (an exception set only on a real error) for the Python path.
PyObject* fast_binary_result(FastBinary* self, PyObject* a, PyObject* b) {
    if (!ts::track_ready()) return nullptr;
    PyObject *dt, *ca, *bdt, *cb;
    if (!ts::plain_tensor_meta(a, &dt, &ca) || !ts::plain_tensor_meta(b, &bdt, &cb)) return nullptr;
    if (!dt || dt != bdt || ca != Py_True || cb != Py_True) return nullptr;
    PyObject* trace = PyDict_GetItemWithError(self->globals, g_trace);
    if (!trace || trace != Py_False) return nullptr;
    PyObject *abuf, *aoff, *shape, *strides, *size, *device, *bbuf, *boff, *bshape, *bstrides, *bsize, *bdevice;
    ts::tensor_layout(a, &abuf, &aoff, &shape, &strides, &size, &device);
    ts::tensor_layout(b, &bbuf, &boff, &bshape, &bstrides, &bsize, &bdevice);
    if (!device || device != bdevice || !shape || !bshape) return nullptr;
    if (shape != bshape) {
        const int eq = PyObject_RichCompareBool(shape, bshape, Py_EQ);
        if (eq <= 0) return nullptr;
    }
    if (self->to_float) {
        PyObject* kind = PyObject_GetAttr(dt, g_kind);
        if (!kind) return nullptr;
        const bool inexact = PyUnicode_CompareWithASCIIString(kind, "float") == 0 ||
                             PyUnicode_CompareWithASCIIString(kind, "complex") == 0;
        Py_DECREF(kind);
        if (!inexact) return nullptr;
    }
    PyObject* type = PyObject_GetAttr(device, g_type);
    if (!type) return nullptr;
    PyObject* key = PyTuple_Pack(2, type, dt);
    Py_DECREF(type);
    if (!key) return nullptr;
    PyObject* kernel = PyDict_GetItemWithError(self->kernels, key);  // borrowed
    Py_DECREF(key);
    if (!kernel) return nullptr;
    PyObject* out_dtype = self->out_dtype == Py_None ? dt : self->out_dtype;
    PyObject* codes = PyDict_GetItemWithError(self->cpu, kernel);
    PyObject* spec = nullptr;
    if (!codes) {
        if (PyErr_Occurred()) return nullptr;
        PyObject* per_device = PyDict_GetItemWithError(self->launched, kernel);
        if (!per_device || !PyDict_Check(per_device)) return nullptr;
        PyObject* index = PyObject_GetAttr(device, g_index);
        if (!index) return nullptr;
        spec = PyDict_GetItemWithError(per_device, index);
        Py_DECREF(index);
        if (!spec) return nullptr;
    } else if (!PyTuple_Check(codes) || PyTuple_GET_SIZE(codes) != 3) {
        return nullptr;
    }
    PyObject* buffer_type = PyObject_GetAttr(device, g_buffer_type);
    if (!buffer_type) return nullptr;
    PyObject* out;
    if (codes) {
        const long op = PyLong_AsLong(PyTuple_GET_ITEM(codes, 0)), d = PyLong_AsLong(PyTuple_GET_ITEM(codes, 1)),
                   od = PyLong_AsLong(PyTuple_GET_ITEM(codes, 2));
        out = PyErr_Occurred() ? nullptr
                               : binary_result(static_cast<int>(op), static_cast<int>(d), static_cast<int>(od), a, b,
                                               1, buffer_type, out_dtype, false);
    } else {
        out = launch_result(spec, a, b, 1, buffer_type, out_dtype);
    }
    Py_DECREF(buffer_type);
    return out;
}

uint64_t g_fast_binary_calls = 0;  // the calls FastBinary answered itself (under the GIL): fast_binary_calls()

PyObject* fast_binary_call(PyObject* self_obj, PyObject* const* args, size_t nargsf, PyObject* kwnames) {
    auto* self = reinterpret_cast<FastBinary*>(self_obj);
    if (PyVectorcall_NARGS(nargsf) == 2 && (!kwnames || !PyTuple_GET_SIZE(kwnames))) {
        PyObject* out = fast_binary_result(self, args[0], args[1]);
        if (out) {
            ++g_fast_binary_calls;
            return out;
        }
        if (PyErr_Occurred()) return nullptr;
    }
    return PyObject_Vectorcall(self->slow, args, nargsf, kwnames);
}

// FastBinary(slow, kernels, cpu, launched, globals, out_dtype or None, to_float)
PyObject* fast_binary_new(PyTypeObject* type, PyObject* args, PyObject* kwargs) {
    PyObject *slow, *kernels, *cpu, *launched, *globals, *out_dtype;
    int to_float;
    if (kwargs && PyDict_GET_SIZE(kwargs)) {
        PyErr_SetString(PyExc_TypeError, "FastBinary takes no keyword arguments");
        return nullptr;
    }
    if (!PyArg_ParseTuple(args, "OOO!O!O!Op", &slow, &kernels, &PyDict_Type, &cpu, &PyDict_Type, &launched,
                          &PyDict_Type, &globals, &out_dtype, &to_float))
        return nullptr;
    if (!PyDict_Check(kernels) || !PyCallable_Check(slow)) {
        PyErr_SetString(PyExc_TypeError, "FastBinary: slow must be callable and kernels a dict");
        return nullptr;
    }
    auto* self = reinterpret_cast<FastBinary*>(type->tp_alloc(type, 0));
    if (!self) return nullptr;
    self->vectorcall = fast_binary_call;
    self->dict = PyDict_New();
    if (!self->dict) {
        Py_DECREF(self);
        return nullptr;
    }
    PyObject* keep[] = {slow, kernels, cpu, launched, globals, out_dtype};
    for (PyObject* k : keep) Py_INCREF(k);
    self->slow = slow;
    self->kernels = kernels;
    self->cpu = cpu;
    self->launched = launched;
    self->globals = globals;
    self->out_dtype = out_dtype;
    self->to_float = to_float;
    static const char* const copied[] = {"__name__", "__qualname__", "__doc__", "__module__"};
    for (const char* name : copied) {
        PyObject* v = PyObject_GetAttrString(slow, name);
        if (!v) {
            PyErr_Clear();
            continue;
        }
        const int rc = PyDict_SetItemString(self->dict, name, v);
        Py_DECREF(v);
        if (rc < 0) {
            Py_DECREF(self);
            return nullptr;
        }
    }
    if (PyDict_SetItemString(self->dict, "__wrapped__", slow) < 0) {
        Py_DECREF(self);
        return nullptr;
    }
    return reinterpret_cast<PyObject*>(self);
}

void fast_binary_dealloc(PyObject* self_obj) {
    auto* self = reinterpret_cast<FastBinary*>(self_obj);
    Py_XDECREF(self->dict);
    Py_XDECREF(self->slow);
    Py_XDECREF(self->kernels);
    Py_XDECREF(self->cpu);
    Py_XDECREF(self->launched);
    Py_XDECREF(self->globals);
    Py_XDECREF(self->out_dtype);
    Py_TYPE(self_obj)->tp_free(self_obj);
}

// As a method: Tensor.__add__ looked up on a tensor gives (self bound); on the class, the FastBinary itself.
PyObject* fast_binary_get(PyObject* self, PyObject* obj, PyObject*) {
    if (!obj || obj == Py_None) {
        Py_INCREF(self);
        return self;
    }
    return PyMethod_New(self, obj);
}

PyObject* fast_binary_repr(PyObject* self) {
    PyObject* name = PyDict_GetItemString(reinterpret_cast<FastBinary*>(self)->dict, "__name__");
    return name ? PyUnicode_FromFormat("<tensorswitch function %U>", name)
                : PyUnicode_FromString("<tensorswitch function>");
}

// pickle by reference: tensorswitch.<name>, as for a Python function
PyObject* fast_binary_reduce(PyObject* self, PyObject*) {
    PyObject* name = PyDict_GetItemString(reinterpret_cast<FastBinary*>(self)->dict, "__qualname__");
    if (!name) name = PyDict_GetItemString(reinterpret_cast<FastBinary*>(self)->dict, "__name__");
    if (!name) {
        PyErr_SetString(PyExc_TypeError, "this FastBinary has no name to be pickled by");
        return nullptr;
    }
    Py_INCREF(name);
    return name;
}

PyMethodDef fast_binary_methods[] = {{"__reduce__", fast_binary_reduce, METH_NOARGS, nullptr},
                                     {nullptr, nullptr, 0, nullptr}};

PyGetSetDef fast_binary_getset[] = {{"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, nullptr, nullptr},
                                    {nullptr, nullptr, nullptr, nullptr, nullptr}};

PyTypeObject FastBinaryType = {PyVarObject_HEAD_INIT(nullptr, 0) "tensorswitch._cpu.FastBinary"};

// reduce_typed for dtype code dt: the reduce entry points' one switch.
void reduce_dtype(const std::string& op, int dt, char* x, const Shape& os, const Shape& ost, const Shape& is,
                  const Shape& ist, char* out) {
    TS_DISPATCH_ALL(dt, reduce_typed<T>(op, x, os, ost, is, ist, out));
}

// The reductions reduce_rows names by number (their order is the module's reduce_ops).
const std::string kReduceOps[] = {"sum", "prod", "max", "min", "all", "any", "argmax", "argmin"};
constexpr int kNumReduceOps = sizeof(kReduceOps) / sizeof(kReduceOps[0]);

// The common reductions - all of a contiguous tensor, or its trailing axes (sum(axis=-1)) - as a METH_FASTCALL
// function: x holds rows * n contiguous elements, out rows; each output reduces one row.  The general entry point
// (pybind11 converting a string and four lists) cost 1 us more than the loop over a small tensor.
PyObject* reduce_rows(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
    // (op, dtype, out dtype, rows, n, out, out offset, x, x offset)
    if (nargs != 9) {
        PyErr_SetString(PyExc_TypeError, "reduce_rows takes 9 arguments");
        return nullptr;
    }
    const int which[] = {0, 1, 2, 3, 4, 6, 8};
    int64_t v[7];
    if (!int_args(args, nargs, v, which, 7)) return nullptr;
    const int64_t op = v[0], rows = v[3], n = v[4];
    const int dt = static_cast<int>(v[1]), odt = static_cast<int>(v[2]);
    try {
        if (op < 0 || op >= kNumReduceOps) throw std::invalid_argument("reduce_rows: unknown reduction code");
        const std::string& name = kReduceOps[op];
        itemsize(dt);  // checks the codes
        itemsize(odt);
        if (odt != reduce_out_dtype(name, dt))
            throw std::invalid_argument("reduce_rows: the out dtype code does not match " + name);
        int64_t total;
        if (rows < 0 || n < 0 || __builtin_mul_overflow(rows, n, &total))
            outside("reduce_rows", "rows * n is negative or overflows");
        char* op_ = contiguous_operand(args[5], v[5], rows, odt, "reduce_rows: out");
        char* xp = op_ ? contiguous_operand(args[7], v[6], total, dt, "reduce_rows: x") : nullptr;
        if (!xp) return nullptr;
        const Shape os = rows == 1 ? Shape{} : Shape{rows}, ost = rows == 1 ? Shape{} : Shape{n};
        const Shape is{n}, ist{1};
        MaybeRelease r(total);
        reduce_dtype(name, dt, xp, os, ost, is, ist, op_);
    } catch (py::error_already_set& e) {
        e.restore();
        return nullptr;
    } catch (const std::out_of_range& e) {
        PyErr_SetString(PyExc_IndexError, e.what());
        return nullptr;
    } catch (const std::exception& e) {
        PyErr_SetString(PyExc_ValueError, e.what());
        return nullptr;
    }
    Py_RETURN_NONE;
}

// reduce_new(op, dtype, out dtype, x, buffer type, out dtype, rows, out shape, out strides): the dispatcher's fast
// path of a reduction of a contiguous cpu tensor (reduce_op in dispatch/dispatcher.py), all of it (rows 1, shape
// and strides ()) or its last axis (rows: the result's size, its contiguous layout), in one call: the result's
// memory, its Tensor and the loop.  NotImplemented: the Python path does it.
PyObject* reduce_new(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
    if (nargs != 9) {
        PyErr_SetString(PyExc_TypeError, "reduce_new takes 9 arguments");
        return nullptr;
    }
    const int which[] = {0, 1, 2, 6};
    int64_t v[4];
    if (!int_args(args, nargs, v, which, 4)) return nullptr;
    if (!ts::track_ready() || !PyType_Check(args[4])) Py_RETURN_NOTIMPLEMENTED;
    PyObject *xbuf, *xoff, *shape, *strides, *size, *device;
    ts::tensor_layout(args[3], &xbuf, &xoff, &shape, &strides, &size, &device);
    if (!xbuf || !xoff || !size || !device || !PyTuple_Check(xbuf) || PyTuple_GET_SIZE(xbuf) < 1)
        Py_RETURN_NOTIMPLEMENTED;
    const int64_t op = v[0], total = PyLong_AsLongLong(size), xo = PyLong_AsLongLong(xoff), rows = v[3];
    if (PyErr_Occurred()) return nullptr;
    if (rows <= 0 || total <= 0 || total % rows || !PyTuple_Check(args[7]) || !PyTuple_Check(args[8]))
        Py_RETURN_NOTIMPLEMENTED;
    const int64_t n = total / rows;
    const int dt = static_cast<int>(v[1]), odt = static_cast<int>(v[2]);
    PyObject* out = nullptr;
    try {
        if (op < 0 || op >= kNumReduceOps) throw std::invalid_argument("reduce_new: unknown reduction code");
        const std::string& name = kReduceOps[op];
        if (odt != reduce_out_dtype(name, dt))
            throw std::invalid_argument("reduce_new: the out dtype code does not match " + name);
        char* xp = contiguous_operand(PyTuple_GET_ITEM(xbuf, 0), xo, total, dt, "reduce_new: x");
        if (!xp) return nullptr;
        PyObject* count = PyLong_FromLongLong(rows);
        if (count)
            out = new_result(static_cast<size_t>(rows) * static_cast<size_t>(itemsize(odt)), args[4], device, args[7],
                             args[8], args[5], count, false);
        Py_XDECREF(count);
        if (!out) {
            if (PyErr_Occurred()) return nullptr;
            Py_RETURN_NOTIMPLEMENTED;
        }
        const Shape os = rows == 1 ? Shape{} : Shape{rows}, ost = rows == 1 ? Shape{} : Shape{n};
        MaybeRelease r(total);
        reduce_dtype(name, dt, xp, os, ost, Shape{n}, Shape{1}, data_of(Memory(result_memory(out))));
    } catch (...) {
        raise_current();
        Py_XDECREF(out);
        return nullptr;
    }
    return out;
}

// The (rows, cols, row stride, column stride) of a matrix operand from its shape and strides tuples, when a BLAS
// can read it in place (backends/cpu.py's _blas_ready); false otherwise.
bool blas_matrix(PyObject* shape, PyObject* strides, int64_t* rows, int64_t* cols, int64_t* rs, int64_t* cs) {
    if (!shape || !strides || !PyTuple_Check(shape) || !PyTuple_Check(strides) || PyTuple_GET_SIZE(shape) != 2 ||
        PyTuple_GET_SIZE(strides) != 2)
        return false;
    *rows = PyLong_AsLongLong(PyTuple_GET_ITEM(shape, 0));
    *cols = PyLong_AsLongLong(PyTuple_GET_ITEM(shape, 1));
    *rs = PyLong_AsLongLong(PyTuple_GET_ITEM(strides, 0));
    *cs = PyLong_AsLongLong(PyTuple_GET_ITEM(strides, 1));
    if (PyErr_Occurred()) {
        PyErr_Clear();
        return false;
    }
    return (*cs == 1 && *rs >= std::max<int64_t>(1, *cols)) || (*rs == 1 && *cs >= std::max<int64_t>(1, *rows)) ||
           *rows == 1 || *cols == 1;
}

// matmul_new(dtype, a, b, buffer type, dtype object): the dispatcher's fast path of a cpu product of two matrices a
// BLAS reads in place (matmul in dispatch/dispatcher.py) in one call: the (M, N) result's memory, its Tensor and the
// product, where Python took three frames and pybind11 converted seventeen arguments (1.5 us of a 3 us 32x32
// product).  NotImplemented having done nothing for anything else (copies, empty results): the Python path.
PyObject* matmul_new(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "matmul_new takes 5 arguments");
        return nullptr;
    }
    const int dt = static_cast<int>(PyLong_AsLong(args[0]));
    if (dt == -1 && PyErr_Occurred()) return nullptr;
    if (!ts::track_ready() || !PyType_Check(args[3])) Py_RETURN_NOTIMPLEMENTED;
    PyObject *abuf, *aoff, *ashape, *astrides, *asize, *device, *bbuf, *boff, *bshape, *bstrides, *bsize, *bdevice;
    ts::tensor_layout(args[1], &abuf, &aoff, &ashape, &astrides, &asize, &device);
    ts::tensor_layout(args[2], &bbuf, &boff, &bshape, &bstrides, &bsize, &bdevice);
    int64_t M, K, N, K2, ars, acs, brs, bcs;
    if (!abuf || !bbuf || !aoff || !boff || !device || !PyTuple_Check(abuf) || !PyTuple_Check(bbuf) ||
        PyTuple_GET_SIZE(abuf) < 1 || PyTuple_GET_SIZE(bbuf) < 1 || !blas_matrix(ashape, astrides, &M, &K, &ars, &acs) ||
        !blas_matrix(bshape, bstrides, &K2, &N, &brs, &bcs) || K != K2 || M <= 0 || N <= 0 || K <= 0)
        Py_RETURN_NOTIMPLEMENTED;
    const int64_t ao = PyLong_AsLongLong(aoff), bo = PyLong_AsLongLong(boff);
    if (PyErr_Occurred()) return nullptr;
    PyObject* out = nullptr;
    PyObject *shape = nullptr, *strides = nullptr, *size = nullptr;
    try {
        char* ap = Reach(ao).dim(M, ars).dim(K, acs).check(PyTuple_GET_ITEM(abuf, 0), dt, "matmul: a");
        char* bp = Reach(bo).dim(K, brs).dim(N, bcs).check(PyTuple_GET_ITEM(bbuf, 0), dt, "matmul: b");
        shape = Py_BuildValue("(LL)", static_cast<long long>(M), static_cast<long long>(N));
        strides = Py_BuildValue("(Ll)", static_cast<long long>(N), 1L);
        size = PyLong_FromLongLong(M * N);
        if (shape && strides && size)
            out = new_result(static_cast<size_t>(M * N) * static_cast<size_t>(itemsize(dt)), args[3], device, shape,
                             strides, args[4], size, false);
        Py_XDECREF(shape);
        Py_XDECREF(strides);
        Py_XDECREF(size);
        if (!out) {
            if (PyErr_Occurred()) return nullptr;
            Py_RETURN_NOTIMPLEMENTED;
        }
        char* op_ = data_of(Memory(result_memory(out)));
        MaybeRelease r(M * N * K);
        TS_DISPATCH_ALL(dt, matmul_typed<T>(Shape{}, op_, ap, Shape{}, ars, acs, bp, Shape{}, brs, bcs, M, N, K));
    } catch (...) {
        raise_current();
        Py_XDECREF(out);
        return nullptr;
    }
    return out;
}

PyObject* allocate_fast(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
    // (nbytes, index): the Backend.allocate signature
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "allocate takes (nbytes, index)");
        return nullptr;
    }
    const long long n = PyLong_AsLongLong(args[0]);  // OverflowError beyond int64, TypeError for a non-integer
    if (n < 0) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "nbytes must be non-negative");
        return nullptr;
    }
    return allocate(static_cast<size_t>(n));
}

PyMethodDef fast_methods[] = {
    {"binary_new", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(&binary_new)), METH_FASTCALL,
     "binary_new(op, dtype, out_dtype, a, bt, b_stride, buffer_type, out_dtype_object)"},
    {"binary_grad", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(&binary_grad)), METH_FASTCALL,
     "binary_grad(op, dtype, out_dtype, a, b, bt, b_stride, name, formula, saves, buffer_type, out_dtype_object)"},
    {"launch_binary", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(&launch_binary)), METH_FASTCALL,
     "launch_binary(launches, a, bt, b_stride, buffer_type, out_dtype_object)"},
    {"unary_contig", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(&elementwise_contig<1>)),
     METH_FASTCALL, "unary_contig(op, dtype, out_dtype, n, out, out_offset, x, x_offset)"},
    {"binary_contig", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(&elementwise_contig<2>)),
     METH_FASTCALL, "binary_contig(op, dtype, out_dtype, n, out, out_offset, a, a_offset, b, b_offset)"},
    {"reduce_rows", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(&reduce_rows)), METH_FASTCALL,
     "reduce_rows(op, dtype, out_dtype, rows, n, out, out_offset, x, x_offset): reduction number op (of reduce_ops) "
     "of each of the rows of n contiguous elements of x into out"},
    {"reduce_new", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(&reduce_new)), METH_FASTCALL,
     "reduce_new(op, dtype, out_dtype, x, buffer_type, out_dtype_object, rows, out_shape, out_strides): reduction "
     "number op of the rows of contiguous x (all of it, or its last axis) into a new tensor"},
    {"matmul_new", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(&matmul_new)), METH_FASTCALL,
     "matmul_new(dtype, a, b, buffer_type, dtype_object): the product of two BLAS-ready matrices as a new tensor"},
    {"allocate", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(&allocate_fast)), METH_FASTCALL,
     "allocate(nbytes, index): a buffer from the pool (a capsule, freed when dropped); MemoryError when it cannot "
     "be had"},
    {nullptr, nullptr, 0, nullptr}};

py::list names(const char* const* table, int n) {
    py::list l;
    for (int i = 0; i < n; ++i) l.append(table[i]);
    return l;
}

// An integer >= least from environment variable ``name``, or ``fallback`` (with a RuntimeWarning, which calls the
// fallback ``fallback_text`` where given, when it is set but not such an integer).
int64_t env_count(const char* name, int64_t fallback, int64_t least, const char* fallback_text = nullptr) {
    const char* text = std::getenv(name);
    if (!text || !*text) return fallback;
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(text, &end, 10);
    if (errno == 0 && *end == '\0' && v >= least) return v;
    const std::string msg = std::string(name) + "=" + text + " is not an integer >= " + std::to_string(least) +
                            "; using " + (fallback_text ? std::string(fallback_text) : std::to_string(fallback));
    if (PyErr_WarnEx(PyExc_RuntimeWarning, msg.c_str(), 1) < 0) throw py::error_already_set();
    return fallback;
}

int64_t at_least(int64_t n, int64_t least, const char* what) {
    if (n < least) throw py::value_error(std::string(what) + " must be at least " + std::to_string(least));
    return n;
}

// The most threads set_num_threads accepts: 4 per core, and 256 on any machine.  More cannot make a kernel faster,
// and tens of thousands exhaust the process's threads (the pool then runs with the workers it could start).
int64_t thread_limit() {
    const long cores = sysconf(_SC_NPROCESSORS_ONLN);  // what os.cpu_count() reads
    return std::max<int64_t>(256, 4 * static_cast<int64_t>(std::max(cores, 1L)));
}

// set_num_threads(n) checks n itself, whoever calls it: an int (anything with __index__ but a bool) from 1 to
// thread_limit(); TypeError or ValueError otherwise, naming set_num_threads.
void set_num_threads(py::handle n) {
    PyObject* o = n.ptr();
    if (PyBool_Check(o) || !PyIndex_Check(o)) {
        std::string shown = Py_TYPE(o)->tp_name;
        PyObject* r = PyObject_Repr(o);
        if (r && PyUnicode_Check(r)) {
            const char* text = PyUnicode_AsUTF8(r);
            if (text && std::strlen(text) <= 60) shown = std::string(text) + " (" + shown + ")";
        }
        Py_XDECREF(r);
        PyErr_Clear();
        throw py::type_error("set_num_threads: n must be an int, got " + shown);
    }
    py::object index = py::reinterpret_steal<py::object>(PyNumber_Index(o));
    if (!index) throw py::error_already_set();
    int overflow = 0;
    const long long v = PyLong_AsLongLongAndOverflow(index.ptr(), &overflow);
    if (v == -1 && PyErr_Occurred()) throw py::error_already_set();
    const std::string got = overflow > 0 ? "an int of 2**63 or more" : overflow < 0 ? "an int below -2**63"
                                                                                  : std::to_string(v);
    if (overflow < 0 || (!overflow && v < 1))
        throw py::value_error("set_num_threads: n must be at least 1, got " + got);
    const int64_t limit = thread_limit();
    if (overflow > 0 || v > limit)
        throw py::value_error("set_num_threads: n must be at most " + std::to_string(limit) + " (the larger of 256 "
                              "and 4 threads per core; more cannot make the kernels faster), got " + got);
    const int threads = static_cast<int>(v);
    ts::g_threads.store(threads, std::memory_order_relaxed);
}


// -- the nn families' entry points (kernels/cpu/nn.h) -----------------------------------------------------------

// The geometry tuple (KH, KW, SH, SW, PH, PW, DH, DW), checked: sizes, strides and dilations at least 1, paddings at
// least 0, and every value below 2^31 so that no product of two of them with an extent can overflow.
ts::nn::Geometry geometry_of(const char* what, const Shape& v) {
    if (v.size() != 8) throw std::invalid_argument(std::string(what) + ": the geometry has 8 values");
    for (int k = 0; k < 8; ++k) {
        const int64_t least = (k == 4 || k == 5) ? 0 : 1;
        if (v[k] < least || v[k] >= (int64_t(1) << 31))
            throw std::invalid_argument(std::string(what) + ": geometry value " + std::to_string(v[k]) +
                                        " is out of range (kernel, stride, dilation >= 1, padding >= 0, all < 2^31)");
    }
    return {v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]};
}

// The output extent of im2col/col2im along one axis (the contract's floor formula); at least 1 or an error.
int64_t blocks_along(const char* what, int64_t size, int64_t k, int64_t s, int64_t p, int64_t d) {
    const int64_t n = (size + 2 * p - d * (k - 1) - 1);
    const int64_t out = (n >= 0 ? n / s : -((-n + s - 1) / s)) + 1;
    if (out < 1) throw std::invalid_argument(std::string(what) + ": the geometry leaves no block in the input");
    return out;
}

void check_shape4(const char* what, const Shape& shape, const Shape& strides) {
    if (shape.size() != 4 || strides.size() != 4)
        throw std::invalid_argument(std::string(what) + ": expected a 4-D shape and strides");
    numel_of(what, shape);  // negative extents and overflow
}

// A bounds-checked 4-D operand (Note [Bounds checks]).
ts::nn::Image image(Memory mem, int64_t offset, const Shape& shape, const Shape& strides, int dt, const char* what) {
    check_shape4(what, shape, strides);
    char* p = Reach(offset).dims(shape, strides).check(mem, dt, what);
    return {p, shape[0], shape[1], shape[2], shape[3], strides[0], strides[1], strides[2], strides[3]};
}

// A bounds-checked contiguous output of ``shape``; its data.
char* contiguous_out(Memory mem, int64_t offset, const Shape& shape, int dt, const char* what) {
    return Reach(offset).dim(numel_of(what, shape), 1).check(mem, dt, what);
}

void require_float(int dt, const char* what) {
    if (dt < 6 || dt > 8) throw std::invalid_argument(std::string(what) + " needs a floating dtype");
}

// The shape an operand of an index kernel walks, its strides checked against it, and the axis within it.
void check_index_layout(const char* what, const Shape& shape, std::initializer_list<const Shape*> strides, int axis) {
    if (shape.empty() || axis < 0 || axis >= static_cast<int>(shape.size()))
        throw std::invalid_argument(std::string(what) + ": the axis must lie in [0, ndim) of a tensor of 1 or more "
                                    "dimensions");
    for (const Shape* s : strides)
        if (s->size() != shape.size()) throw std::invalid_argument("strides and shape differ in length");
}

// max_pool2d_backward's checks and call; ``general`` picks the two-pass path whatever the windows (tests compare it
// with the disjoint windows' paths, see nn.h).
void max_pool2d_backward_entry(int dt, Memory grad, int64_t go, const Shape& gs, const Shape& gst, Memory x, int64_t xo,
                               const Shape& xs, const Shape& xst, Memory o, int64_t oo, const Shape& geometry,
                               bool general) {
    require_float(dt, "max_pool2d_backward");
    const ts::nn::Geometry g = geometry_of("max_pool2d_backward", geometry);
    const ts::nn::Image xi = image(x, xo, xs, xst, dt, "max_pool2d_backward: x");
    const ts::nn::Image gi = image(grad, go, gs, gst, dt, "max_pool2d_backward: grad");
    if (gi.n != xi.n || gi.c != xi.c) throw std::invalid_argument("max_pool2d_backward: grad must be (N, C, OH, OW)");
    char* op_ = contiguous_out(o, oo, xs, dt, "max_pool2d_backward: out");
    MaybeRelease r(numel_of("max_pool2d_backward", gs, {g.kh, g.kw}) + numel_of("max_pool2d_backward", xs));
    ts::nn::max_pool2d_backward(dt, gi, xi, op_, g, general);
}

}  // namespace

namespace ts {
PyMethodDef* autograd_method_table();  // kernels/cpu/autograd.cpp
}

PYBIND11_MODULE(_cpu, m) {
    m.doc() = "tensorswitch's cpu kernels (see backends/cpu.py)";

    // -- settings, read once at import ----------------------------------------------------------------------------
    {
#ifdef _OPENMP
        int threads = omp_get_max_threads();  // OMP_NUM_THREADS, else every core we may run on
#else
        int threads = static_cast<int>(env_count("OMP_NUM_THREADS", std::max<long>(1, sysconf(_SC_NPROCESSORS_ONLN)), 1));
#endif
        if (threads > thread_limit()) {       // see thread_limit(): more would crash the first parallel kernel
            const std::string msg = "OMP_NUM_THREADS asks for " + std::to_string(threads) + " threads; tensorswitch's "
                                    "cpu kernels use at most " + std::to_string(thread_limit());
            if (PyErr_WarnEx(PyExc_RuntimeWarning, msg.c_str(), 1) < 0) throw py::error_already_set();
            threads = static_cast<int>(thread_limit());
        }
        ts::g_threads.store(threads, std::memory_order_relaxed);
    }
    ts::g_grain.store(env_count("TENSORSWITCH_CPU_GRAIN", ts::grain(), 1), std::memory_order_relaxed);
    pool().set_limit(static_cast<size_t>(env_count("TENSORSWITCH_CPU_CACHE_LIMIT", int64_t(256) << 20, 0)));
    g_available_override.store(env_count("TENSORSWITCH_CPU_AVAILABLE_BYTES", -1, 0, "what the system says"),
                               std::memory_order_relaxed);
    g_cgroups = find_cgroups("/proc/self/cgroup", "/sys/fs/cgroup");
    {
        const size_t physical = physical_memory(), cgroup = cgroup_limit(g_cgroups);
        g_limit_is_cgroup = cgroup < physical;
        g_memory_limit = g_limit_is_cgroup ? cgroup : physical;
    }

    for (PyMethodDef* def = fast_methods; def->ml_name; ++def)
        m.add_object(def->ml_name, py::reinterpret_steal<py::object>(PyCFunction_New(def, nullptr)));
    // Note [Binary ops in C]
    g_zero = PyLong_FromLong(0);
    g_itemsize = PyUnicode_InternFromString("itemsize");
    g_trace = PyUnicode_InternFromString("_TRACE");
    g_kind = PyUnicode_InternFromString("kind");
    g_type = PyUnicode_InternFromString("type");
    g_index = PyUnicode_InternFromString("index");
    g_buffer_type = PyUnicode_InternFromString("buffer_type");
    if (!g_zero || !g_itemsize || !g_trace || !g_kind || !g_type || !g_index || !g_buffer_type)
        throw py::error_already_set();
    FastBinaryType.tp_basicsize = sizeof(FastBinary);
    FastBinaryType.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL | Py_TPFLAGS_METHOD_DESCRIPTOR;
    FastBinaryType.tp_doc = "FastBinary(slow, kernels, cpu, launched, globals, out_dtype, to_float): a binary "
                            "elementwise op whose common case runs in C (Note [Binary ops in C])";
    FastBinaryType.tp_new = fast_binary_new;
    FastBinaryType.tp_dealloc = fast_binary_dealloc;
    FastBinaryType.tp_call = PyVectorcall_Call;
    FastBinaryType.tp_vectorcall_offset = offsetof(FastBinary, vectorcall);
    FastBinaryType.tp_dictoffset = offsetof(FastBinary, dict);
    FastBinaryType.tp_descr_get = fast_binary_get;
    FastBinaryType.tp_repr = fast_binary_repr;
    FastBinaryType.tp_methods = fast_binary_methods;
    FastBinaryType.tp_getset = fast_binary_getset;
    if (PyType_Ready(&FastBinaryType) < 0) throw py::error_already_set();
    m.def("fast_binary_calls", [] { return g_fast_binary_calls; },
          "How many binary op calls FastBinary has answered in C (Note [Binary ops in C]); for tests.");
    Py_INCREF(&FastBinaryType);
    m.add_object("FastBinary", py::reinterpret_borrow<py::object>(reinterpret_cast<PyObject*>(&FastBinaryType)));
    // autograd's recording of the common case (kernels/cpu/autograd.cpp, Note [Recording in C])
    for (PyMethodDef* def = ts::autograd_method_table(); def->ml_name; ++def)
        m.add_object(def->ml_name, py::reinterpret_steal<py::object>(PyCFunction_New(def, nullptr)));
    m.def("address", [](Memory mem) { return reinterpret_cast<uintptr_t>(data_of(mem)); });
    m.def("size", [](Memory mem) { return size_of(mem); });

    // -- interop: foreign memory and DLPack capsules (Note [Foreign memory], kernels/cpu/dlpack.h) -----------------
    m.def("is_writable", [](Memory mem) { return span_of(mem).writable; },
          "False for read-only memory imported from another library.");
    m.def("is_foreign", [](Memory mem) { return PyCapsule_IsValid(mem.ptr(), kForeignCapsule) == 1; },
          "True for memory imported from another library (Note [Foreign memory]).");
    m.def("to_dlpack", [](Memory mem, int64_t offset, const Shape& shape, const Shape& strides, int dt, int code,
                          int bits, bool versioned, int minor, uint64_t flags) {
        char* first = Reach(offset).dims(shape, strides).check(mem, dt, "to_dlpack");
        if (!span_of(mem).writable) {
            if (!versioned) {
                PyErr_SetString(PyExc_BufferError, "__dlpack__: this memory is read-only and a DLPack capsule "
                                                   "before 1.0 cannot say so; ask for max_version=(1, 0) or a copy");
                throw py::error_already_set();
            }
            flags |= ts::dlpack::kFlagReadOnly;
        }
        PyObject* cap = ts::dlpack::export_capsule(mem.ptr(), first, shape, strides, static_cast<uint8_t>(code),
                                                   static_cast<uint8_t>(bits), ts::dlpack::kDLCPU, 0, versioned,
                                                   static_cast<uint32_t>(minor), flags);
        if (!cap) throw py::error_already_set();
        return py::reinterpret_steal<py::object>(cap);
    }, "to_dlpack(memory, offset, shape, strides, dtype, code, bits, versioned, minor, flags): a DLPack capsule over "
       "these elements of a cpu buffer (bounds-checked; strides in elements), keeping the buffer alive until the "
       "consumer is done.");
    m.def("to_dlpack_device", [](py::handle owner, uintptr_t address, const Shape& shape, const Shape& strides,
                                 int code, int bits, int device_type, int device_id, bool versioned, int minor,
                                 uint64_t flags) {
        if (shape.size() != strides.size()) throw std::invalid_argument("strides and shape differ in length");
        PyObject* cap = ts::dlpack::export_capsule(owner.ptr(), reinterpret_cast<char*>(address), shape, strides,
                                                   static_cast<uint8_t>(code), static_cast<uint8_t>(bits),
                                                   device_type, device_id, versioned, static_cast<uint32_t>(minor),
                                                   flags);
        if (!cap) throw py::error_already_set();
        return py::reinterpret_steal<py::object>(cap);
    }, "to_dlpack_device(owner, address, shape, strides, code, bits, device_type, device_id, versioned, minor, "
       "flags): a DLPack capsule over device memory at ``address`` that ``owner`` keeps alive (for backends whose "
       "memory is not a cpu buffer, such as cuda).");
    m.def("from_dlpack", [](py::handle capsule, const std::vector<std::pair<int, int>>& supported) {
        namespace dl = ts::dlpack;
        auto refuse = [](const std::string& why) {
            PyErr_SetString(PyExc_BufferError, ("from_dlpack: " + why).c_str());
            throw py::error_already_set();
        };
        dl::Parsed p;
        if (!dl::parse_capsule(capsule.ptr(), p)) throw py::error_already_set();
        const dl::DLTensor& t = *p.tensor;
        const int32_t dev = t.device.device_type;
        if (dev != dl::kDLCPU && dev != dl::kDLCUDAHost && dev != dl::kDLROCMHost)
            refuse("the data is on DLPack device type " + std::to_string(dev) + ", which the host cannot read");
        bool known = false;
        for (const auto& cb : supported) known |= cb.first == t.dtype.code && cb.second == t.dtype.bits;
        if (!known || t.dtype.lanes != 1)
            refuse("tensorswitch has no dtype for DLPack type code " + std::to_string(t.dtype.code) + " with " +
                   std::to_string(t.dtype.bits) + " bits and " + std::to_string(t.dtype.lanes) + " lanes");
        if (t.ndim < 0 || t.ndim > 64) refuse("a tensor of " + std::to_string(t.ndim) + " dimensions");
        const int64_t item = t.dtype.bits / 8;
        Shape shape(t.shape, t.shape + t.ndim), strides(t.ndim);
        bool empty = false;
        for (int i = 0; i < t.ndim; ++i) {
            if (shape[i] < 0) refuse("a negative extent in the shape");
            empty |= shape[i] == 0;
        }
        // NULL strides (allowed before DLPack 1.2) mean C-contiguous, as do the strides we give an empty tensor
        auto contiguous = [&t, &shape, &strides] {
            int64_t acc = 1;
            for (int i = t.ndim - 1; i >= 0; --i) {
                strides[i] = acc;
                if (shape[i] > 1 && __builtin_mul_overflow(acc, shape[i], &acc)) acc = 0;  // unused past overflow
            }
        };
        if (t.strides && !empty) strides.assign(t.strides, t.strides + t.ndim);
        else contiguous();
        char* first = static_cast<char*>(t.data) + t.byte_offset;
        int64_t lo = 0, hi = 0;
        bool overflow = false;
        for (int i = 0; i < t.ndim && !empty; ++i) {
            int64_t span;
            overflow |= __builtin_mul_overflow(shape[i] - 1, strides[i], &span);
            overflow |= span < 0 ? __builtin_add_overflow(lo, span, &lo) : __builtin_add_overflow(hi, span, &hi);
        }
        int64_t nbytes = 0;
        if (!empty && (overflow || __builtin_sub_overflow(hi, lo, &nbytes) ||
                       __builtin_add_overflow(nbytes, 1, &nbytes) || __builtin_mul_overflow(nbytes, item, &nbytes)))
            refuse("the layout overflows 64-bit byte offsets");
        if (!empty && reinterpret_cast<uintptr_t>(first) % static_cast<uintptr_t>(item) != 0)
            refuse("the data is not aligned to its element size (" + std::to_string(item) + " bytes)");
        static char no_data;  // an empty tensor's buffer: never read or written, but never NULL either
        char* data = empty ? &no_data : first + lo * item;
        if (empty) lo = 0;
        const bool read_only = (p.flags & dl::kFlagReadOnly) != 0, copied = (p.flags & dl::kFlagIsCopied) != 0;
        const uint8_t code = t.dtype.code, bits = t.dtype.bits;
        const int32_t dev_id = t.device.device_id;
        if (!dl::consume_capsule(capsule.ptr(), p)) throw py::error_already_set();
        PyObject* mem = foreign_memory(data, static_cast<size_t>(nbytes), !read_only, p.managed, p.versioned, nullptr);
        if (!mem) {  // consumed: the tensor is ours to free
            dl::call_deleter(p.managed, p.versioned);
            throw py::error_already_set();
        }
        return py::make_tuple(py::reinterpret_steal<py::object>(mem), -lo, shape, strides, int(code), int(bits),
                              read_only, copied, dev, dev_id);
    }, "from_dlpack(capsule, supported): consume a DLPack capsule of host memory whose (type code, bits) is in "
       "``supported``: (memory, offset, shape, strides, code, bits, read_only, copied, device_type, device_id), the "
       "memory a foreign buffer that frees the producer's tensor when dropped; BufferError, leaving the capsule "
       "untouched, for what cannot be imported.");

    // -- memory (Note [CPU memory pool]) ----------------------------------------------------------------------------
    m.def("memory_limit", [] { return g_memory_limit; },
          "The largest single allocation in bytes: the machine's physical memory, or the cgroup's memory limit where "
          "that is lower.");
    m.def("_available_memory", [] {
        const Available a = available_memory();
        return py::make_tuple(a.bytes == kNoFigure ? py::object(py::none()) : py::int_(a.bytes), a.source);
    }, "(bytes or None, source): what a request of 256 MiB or more is held against now (see \"available\" in Note "
       "[CPU memory pool]).  For tests.");
    m.def("_cgroup_memory", [](const std::string& listing, const std::string& root) {
        const std::vector<CgroupMemory> cgroups = find_cgroups(listing, root);
        py::list dirs;
        for (const CgroupMemory& c : cgroups) dirs.append(py::make_tuple(c.dir, c.v2 ? 2 : 1));
        Available room;
        least_cgroup_room(cgroups, room);
        const size_t limit = cgroup_limit(cgroups);
        auto figure = [](size_t v) { return v == kNoFigure ? py::object(py::none()) : py::int_(v); };
        return py::make_tuple(dirs, figure(limit), figure(room.bytes), room.source);
    }, py::arg("listing") = "/proc/self/cgroup", py::arg("root") = "/sys/fs/cgroup",
       "([(folder, cgroup version)], lowest limit or None, least room left or None, its source): what the cgroups "
       "named in ``listing`` (a /proc/<pid>/cgroup) under ``root`` say.  For tests.");
    m.def("_set_available_override", [](std::optional<int64_t> n) {
        g_available_override.store(n ? at_least(*n, 0, "the available bytes") : -1, std::memory_order_relaxed);
    }, "Pretend n bytes are available to large requests (None: read them again); what "
       "TENSORSWITCH_CPU_AVAILABLE_BYTES sets at import.  For tests.");
    m.def("empty_cache", [] { pool().release_all(); }, "Give the pool's cached blocks back to the system.");
    m.def("memory_stats", [] {
        const PoolStats s = pool().stats();
        py::dict d;
        d["allocated_bytes"] = s.allocated;
        d["peak_allocated_bytes"] = s.peak;
        d["cached_bytes"] = s.cached;
        d["cache_limit_bytes"] = s.limit;
        d["allocation_count"] = s.count;
        d["cache_hits"] = s.hits;
        return d;
    }, "The pool's statistics as a dict (see Note [CPU memory pool] in kernels/cpu/module.cpp).");
    m.def("reset_peak_memory_stats", [] { pool().reset_peak(); },
          "Start peak_allocated_bytes again from what is allocated now.");
    m.def("set_cache_limit", [](int64_t n) { pool().set_limit(static_cast<size_t>(at_least(n, 0, "the cache "
                                                                                                "limit"))); },
          "Cache at most n bytes of freed blocks (0: none), evicting the least recently freed now if over.");
    m.def("cached_bytes", [] { return pool().stats().cached; });

    // -- threads ----------------------------------------------------------------------------------------------------
    m.def("set_num_threads", &set_num_threads, "Use n threads in the kernels (default: OMP_NUM_THREADS, else every core); n "
          "an int from 1 to thread_limit().");
    m.def("thread_limit", &thread_limit, "The most threads set_num_threads accepts: max(256, 4 * cores).");
    m.def("get_num_threads", &ts::max_threads);
    m.def("max_threads", &ts::max_threads);
    m.def("set_grain", [](int64_t n) { ts::g_grain.store(at_least(n, 1, "the grain"), std::memory_order_relaxed); },
          "Loops over fewer than n elements stay on one thread and keep the GIL (default 32768; "
          "TENSORSWITCH_CPU_GRAIN).");
    m.def("get_grain", &ts::grain);

    // -- copies (byte offsets) --------------------------------------------------------------------------------------
    auto check_bytes = [](Memory mem, size_t offset, size_t n, const char* what) {
        const size_t size = size_of(mem);
        if (offset > size || n > size - offset)
            outside(what, std::to_string(n) + " bytes at byte " + std::to_string(offset) + " reach outside a buffer "
                          "of " + std::to_string(size) + " bytes");
    };
    m.def("copy_in", [check_bytes](Memory mem, size_t offset, py::buffer host) {
        py::buffer_info info = host.request();
        const size_t n = static_cast<size_t>(info.size * info.itemsize);
        check_bytes(mem, offset, n, "copy_in");
        char* dst = writable_data(mem, "copy_in");
        MaybeRelease r(static_cast<int64_t>(n));
        std::memcpy(dst + offset, info.ptr, n);
    });
    m.def("copy_out", [check_bytes](Memory mem, size_t offset, py::buffer host) {
        py::buffer_info info = host.request(true);
        const size_t n = static_cast<size_t>(info.size * info.itemsize);
        check_bytes(mem, offset, n, "copy_out");
        MaybeRelease r(static_cast<int64_t>(n));
        std::memcpy(info.ptr, data_of(mem) + offset, n);
    });
    m.def("copy_between", [check_bytes](Memory dst, size_t doff, Memory src, size_t soff, size_t n) {
        check_bytes(dst, doff, n, "copy_between: dst");
        check_bytes(src, soff, n, "copy_between: src");
        char* to = writable_data(dst, "copy_between");
        MaybeRelease r(static_cast<int64_t>(n));
        std::memmove(to + doff, data_of(src) + soff, n);
    });

    // Note [Runtime ISA dispatch] in loops.h: the instruction set level whose loops run, and whether there is a choice
    m.attr("reduce_ops") = std::vector<std::string>(kReduceOps, kReduceOps + kNumReduceOps);  // reduce_rows' codes
    m.attr("isa") = ts::isa();
    m.attr("isa_dispatch") = ts::isa_dispatch();
    m.attr("vector_math") = TS_VECTOR_MATH != 0;  // Note [Vector math] in kernels.h
    m.attr("own_vector_exp") = ts::own_vector_exp();  // Note [Own vector exp] in vexp.h
    m.attr("unary_ops") = names(unary_op_names, kNumUnary);
    m.attr("binary_ops") = names(binary_op_names, kNumBinary);

    // -- kernels: each checks its operands first (Note [Bounds checks]) ---------------------------------------------
    // elementwise: the *_contig forms take an element count (every operand contiguous), the others shape+strides
    m.def("unary", [](int op, int dt, int odt, const Shape& shape, Memory o, int64_t oo, const Shape& os,
                      Memory x, int64_t xo, const Shape& xs) {
        auto fn = unary_fn(op, dt, odt);
        char* p[2] = {Reach(oo).dims(shape, os).check(o, odt, "unary: out"),
                      Reach(xo).dims(shape, xs).check(x, dt, "unary: x")};
        auto d = dims<2>(shape, {&os, &xs}, {odt, dt}, true);
        const int64_t cost = unary_cost(op);
        MaybeRelease r(d.numel() * cost);
        fn->run(d, p, cost);
    });
    m.def("binary_flat", [](int op, int dt, int odt, int64_t n, Memory o, int64_t oo, Memory a, int64_t ao,
                            int64_t as, Memory b, int64_t bo, int64_t bs) {
        auto fn = binary_fn(op, dt, odt);
        char* p[3] = {Reach(oo).dim(n, 1).check(o, odt, "binary_flat: out"),
                      Reach(ao).dim(n, as).check(a, dt, "binary_flat: a"),
                      Reach(bo).dim(n, bs).check(b, dt, "binary_flat: b")};
        auto d = flat<3>(n, {odt, dt, dt});
        d.st[1][0] *= as;  // 1: contiguous, 0: a broadcast scalar
        d.st[2][0] *= bs;
        const int64_t cost = binary_cost(op);
        MaybeRelease r(n * cost);
        fn->run(d, p, cost);
    });
    m.def("binary", [](int op, int dt, int odt, const Shape& shape, Memory o, int64_t oo, const Shape& os,
                       Memory a, int64_t ao, const Shape& as, Memory b, int64_t bo, const Shape& bs) {
        auto fn = binary_fn(op, dt, odt);
        char* p[3] = {Reach(oo).dims(shape, os).check(o, odt, "binary: out"),
                      Reach(ao).dims(shape, as).check(a, dt, "binary: a"),
                      Reach(bo).dims(shape, bs).check(b, dt, "binary: b")};
        auto d = dims<3>(shape, {&os, &as, &bs}, {odt, dt, dt}, true);
        const int64_t cost = binary_cost(op);
        MaybeRelease r(d.numel() * cost);
        fn->run(d, p, cost);
    });
    m.def("where", [](int dt, const Shape& shape, Memory o, int64_t oo, const Shape& os, Memory c, int64_t co,
                      const Shape& cs, Memory a, int64_t ao, const Shape& as, Memory b, int64_t bo,
                      const Shape& bs) {
        char* p[4] = {Reach(oo).dims(shape, os).check(o, dt, "where: out"),
                      Reach(co).dims(shape, cs).check(c, 0, "where: cond"),
                      Reach(ao).dims(shape, as).check(a, dt, "where: a"),
                      Reach(bo).dims(shape, bs).check(b, dt, "where: b")};
        auto d = dims<4>(shape, {&os, &cs, &as, &bs}, {dt, 0, dt, dt}, true);
        MaybeRelease r(d.numel());
        TS_DISPATCH_ALL(dt, ts::where_kernel<T>(d, p));
    });
    m.def("astype", [](int sdt, int ddt, const Shape& shape, Memory o, int64_t oo, const Shape& os, Memory x,
                       int64_t xo, const Shape& xs) {
        char* p[2] = {Reach(oo).dims(shape, os).check(o, ddt, "astype: out"),
                      Reach(xo).dims(shape, xs).check(x, sdt, "astype: x")};
        auto d = dims<2>(shape, {&os, &xs}, {ddt, sdt}, true);
        MaybeRelease r(d.numel());
        TS_DISPATCH_ALL(ddt, using D = T; TS_DISPATCH_ALL(sdt, ts::astype_kernel<D, T>(d, p)));
    });
    m.def("fill", [](int dt, const Shape& shape, Memory o, int64_t oo, const Shape& os, double fv, int64_t iv,
                     bool from_float, double fimag) {
        // A float value converts by the astype rules (Note [Float to integer casts]), an integer one wraps; a
        // complex dtype takes (fv, fimag).
        char* p[1] = {Reach(oo).dims(shape, os).check(o, dt, "fill: out")};
        auto d = dims<1>(shape, {&os}, {dt}, true);
        MaybeRelease r(d.numel());
        TS_DISPATCH_ALL(dt, ts::fill_kernel<T>(d, p, ts::fill_value<T>(fv, iv, from_float, fimag)));
    });
    m.def("arange", [](int dt, int64_t n, Memory o, int64_t oo, double fstart, double fstep, int64_t istart,
                       int64_t istep) {
        char* base = Reach(oo).dim(n, 1).check(o, dt, "arange: out");
        MaybeRelease r(n);
        TS_DISPATCH(dt, {
            T* out = reinterpret_cast<T*>(base);
            ts::parallel_chunks(n, [&](int64_t b, int64_t e) {
                for (int64_t i = b; i < e; ++i) {
                    if constexpr (ts::is_float_v<T>) out[i] = static_cast<T>(fstart + static_cast<double>(i) * fstep);
                    else out[i] = static_cast<T>(istart + i * istep);  // wraps (-fwrapv), as NumPy's arange
                }
            });
        });
    });
    m.def("random", [](const std::string& kind, int dt, int64_t n, Memory o, int64_t oo, uint64_t seed,
                       uint64_t offset, int64_t low, uint64_t span) {
        // randint: low + bits % span in unsigned 64-bit arithmetic (Note [Random numbers]); span is high - low
        // modulo 2^64, so 0 stands for 2^64 (all of int64), where bits % 2^64 is bits itself.
        char* base = Reach(oo).dim(n, 1).check(o, dt, "random: out");
        MaybeRelease r(n);
        const int k = kind == "rand" ? 0 : kind == "randn" ? 1 : 2;
        TS_DISPATCH(dt, {
            T* out = reinterpret_cast<T*>(base);
            ts::parallel_chunks(n, [&](int64_t b, int64_t e) {
                for (int64_t i = b; i < e; ++i) {
                    const ts::Philox ph(seed, static_cast<uint64_t>(i), offset);
                    if constexpr (ts::is_float_v<T>) {
                        out[i] = k == 0 ? ts::uniform<T>(ph) : ts::normal<T>(ph);
                    } else {
                        const uint64_t bits = (static_cast<uint64_t>(ph.x[1]) << 32) | ph.x[0];
                        out[i] = static_cast<T>(static_cast<uint64_t>(low) + (span ? bits % span : bits));
                    }
                }
            });
        });
    });
    m.def("reduce", [](const std::string& op, int dt, Memory x, int64_t xo, const Shape& os, const Shape& ost,
                       const Shape& is, const Shape& ist, Memory out, int64_t oo, int odt) {
        char* xp = Reach(xo).dims(os, ost).dims(is, ist).check(x, dt, "reduce: x");
        if (odt != reduce_out_dtype(op, dt))
            throw std::invalid_argument("reduce: the out dtype code does not match " + op);
        char* op_ = Reach(oo).dim(numel_of("reduce: out", os), 1).check(out, odt, "reduce: out");
        const int64_t work = numel_of("reduce: x", os, {numel_of("reduce: x", is)});
        MaybeRelease r(work);
        reduce_dtype(op, dt, xp, os, ost, is, ist, op_);
    });
    m.def("matmul", [](int dt, const Shape& batch, Memory o, int64_t oo, Memory a, int64_t ao, const Shape& abs,
                       int64_t ars, int64_t acs, Memory b, int64_t bo, const Shape& bbs, int64_t brs, int64_t bcs,
                       int64_t M, int64_t N, int64_t K) {
        // a (*batch, M, K), b (*batch, K, N) with any strides (batch ones broadcast); out (*batch, M, N) contiguous
        char* op_ = Reach(oo).dim(numel_of("matmul: out", batch, {M, N}), 1).check(o, dt, "matmul: out");
        char* ap = Reach(ao).dims(batch, abs).dim(M, ars).dim(K, acs).check(a, dt, "matmul: a");
        char* bp = Reach(bo).dims(batch, bbs).dim(K, brs).dim(N, bcs).check(b, dt, "matmul: b");
        MaybeRelease r(numel_of("matmul", batch, {M, N, K}));
        TS_DISPATCH_ALL(dt, matmul_typed<T>(batch, op_, ap, abs, ars, acs, bp, bbs, brs, bcs, M, N, K));
    });
    m.def("linear", [](int dt, Memory o, int64_t oo, Memory a, int64_t ao, int64_t ars, int64_t acs, Memory b,
                       int64_t bo, int64_t brs, int64_t bcs, Memory bias, int64_t biaso, int64_t biass, int64_t M,
                       int64_t N, int64_t K) {
        // the fused linear (Note [Kernel contract] row linear): out (M, N) contiguous = a (M, K) @ b (K, N) + bias
        // (N,), the bias written into every row first and the product added to it (BLAS's beta = 1, PyTorch's addmm)
        require_float(dt, "linear");
        char* op_ = Reach(oo).dim(numel_of("linear: out", {}, {M, N}), 1).check(o, dt, "linear: out");
        char* ap = Reach(ao).dim(M, ars).dim(K, acs).check(a, dt, "linear: x");
        char* bp = Reach(bo).dim(K, brs).dim(N, bcs).check(b, dt, "linear: w");
        char* biasp = Reach(biaso).dim(N, biass).check(bias, dt, "linear: bias");
        MaybeRelease r(numel_of("linear", {}, {M, N, K}));
        const size_t item = static_cast<size_t>(ts::kItemsize[dt]);
        for (int64_t j = 0; j < N; ++j)  // the first row, then copies of it
            std::memcpy(op_ + j * item, biasp + j * biass * static_cast<int64_t>(item), item);
        for (int64_t i = 1; i < M; ++i) std::memcpy(op_ + i * N * item, op_, N * item);
        if (K == 0) return;
        switch (dt) {
            case 6: matmul_typed<ts::half>({}, op_, ap, {}, ars, acs, bp, {}, brs, bcs, M, N, K, true); break;
            case 7: matmul_typed<float>({}, op_, ap, {}, ars, acs, bp, {}, brs, bcs, M, N, K, true); break;
            default: matmul_typed<double>({}, op_, ap, {}, ars, acs, bp, {}, brs, bcs, M, N, K, true);
        }
    });
    m.def("softmax", [](bool log, int dt, Memory x, int64_t xo, Memory o, int64_t oo, int64_t outer, int64_t n,
                        int64_t inner) {
        // x and out contiguous, viewed as (outer, n, inner); softmax along n (Note [Softmax of non-finite rows])
        const int64_t total = numel_of("softmax", {}, {outer, n, inner});
        char* xp = Reach(xo).dim(total, 1).check(x, dt, "softmax: x");
        char* op_ = Reach(oo).dim(total, 1).check(o, dt, "softmax: out");
        MaybeRelease r(total * kSoftmaxCost);
        switch (dt) {
            case 6: softmax_typed<ts::half>(log, reinterpret_cast<ts::half*>(xp), reinterpret_cast<ts::half*>(op_),
                                            outer, n, inner); break;
            case 7: softmax_typed<float>(log, reinterpret_cast<float*>(xp), reinterpret_cast<float*>(op_), outer, n,
                                         inner); break;
            case 8: softmax_typed<double>(log, reinterpret_cast<double*>(xp), reinterpret_cast<double*>(op_), outer,
                                          n, inner); break;
            default: throw std::invalid_argument("softmax needs a floating dtype");
        }
    });
    // cross entropy's common case (Note [Fused cross entropy]): x (N, C) any strides, target int64 (N,) any stride.
    // nll_log_softmax returns None, or the first target outside [0, C) having computed nothing.
    auto nll_operands = [](const char* what, int dt, Memory x, int64_t xo, int64_t n, int64_t c, int64_t rs,
                           int64_t cs, Memory t, int64_t to, int64_t tst, char*& xp, char*& tp) {
        require_float(dt, what);
        if (n < 1 || c < 1) throw std::invalid_argument(std::string(what) + ": needs N >= 1 rows of C >= 1 classes");
        xp = Reach(xo).dims({n, c}, {rs, cs}).check(x, dt, what);
        tp = Reach(to).dim(n, tst).check(t, 4, what);
    };
    m.def("nll_log_softmax", [nll_operands](int dt, Memory o, int64_t oo, Memory x, int64_t xo, int64_t n, int64_t c,
                                            int64_t rs, int64_t cs, Memory t, int64_t to, int64_t tst,
                                            bool mean) -> py::object {
        char *xp, *tp;
        nll_operands("nll_log_softmax", dt, x, xo, n, c, rs, cs, t, to, tst, xp, tp);
        char* op_ = Reach(oo).dim(1, 1).check(o, dt, "nll_log_softmax: out");
        const int64_t* tv = reinterpret_cast<const int64_t*>(tp);
        int64_t bad = 0;
        if (first_bad_target(tv, tst, n, c, bad) >= 0) return py::int_(bad);
        MaybeRelease r(n * c * kSoftmaxCost);
        // the loss rounds to the compute type once, then divides in it (the composition's sum, then division)
        switch (dt) {
            case 6: {
                const float tot = static_cast<float>(nll_log_softmax_typed(reinterpret_cast<const ts::half*>(xp), n, c,
                                                                           rs, cs, tv, tst));
                *reinterpret_cast<ts::half*>(op_) = static_cast<ts::half>(mean ? tot / static_cast<float>(n) : tot);
                break;
            }
            case 7: {
                const float tot = static_cast<float>(nll_log_softmax_typed(reinterpret_cast<const float*>(xp), n, c, rs,
                                                                           cs, tv, tst));
                *reinterpret_cast<float*>(op_) = mean ? tot / static_cast<float>(n) : tot;
                break;
            }
            default: {
                const double tot = nll_log_softmax_typed(reinterpret_cast<const double*>(xp), n, c, rs, cs, tv, tst);
                *reinterpret_cast<double*>(op_) = mean ? tot / static_cast<double>(n) : tot;
            }
        }
        return py::none();
    });
    m.def("nll_log_softmax_backward", [nll_operands](int dt, Memory o, int64_t oo, Memory x, int64_t xo, int64_t n,
                                                     int64_t c, int64_t rs, int64_t cs, Memory t, int64_t to,
                                                     int64_t tst, Memory g, int64_t go, bool mean) {
        char *xp, *tp;
        nll_operands("nll_log_softmax_backward", dt, x, xo, n, c, rs, cs, t, to, tst, xp, tp);
        char* op_ = contiguous_out(o, oo, {n, c}, dt, "nll_log_softmax_backward: out");
        char* gp = Reach(go).dim(1, 1).check(g, dt, "nll_log_softmax_backward: g");
        const int64_t* tv = reinterpret_cast<const int64_t*>(tp);
        int64_t bad = 0;
        if (first_bad_target(tv, tst, n, c, bad) >= 0)
            outside("nll_log_softmax_backward", "target " + std::to_string(bad) + " is outside [0, " +
                    std::to_string(c) + ")");
        MaybeRelease r(n * c * kSoftmaxCost);
        // the gradient of each picked -log p: g, over N for the mean, in x's dtype (the composition's division)
        switch (dt) {
            case 6: {
                const float gv = static_cast<float>(*reinterpret_cast<const ts::half*>(gp));
                const float scale = static_cast<float>(static_cast<ts::half>(mean ? gv / static_cast<float>(n) : gv));
                nll_log_softmax_backward_typed(reinterpret_cast<ts::half*>(op_), reinterpret_cast<const ts::half*>(xp),
                                               n, c, rs, cs, tv, tst, scale);
                break;
            }
            case 7: {
                const float gv = *reinterpret_cast<const float*>(gp);
                nll_log_softmax_backward_typed(reinterpret_cast<float*>(op_), reinterpret_cast<const float*>(xp), n, c,
                                               rs, cs, tv, tst, mean ? gv / static_cast<float>(n) : gv);
                break;
            }
            default: {
                const double gv = *reinterpret_cast<const double*>(gp);
                nll_log_softmax_backward_typed(reinterpret_cast<double*>(op_), reinterpret_cast<const double*>(xp), n,
                                               c, rs, cs, tv, tst, mean ? gv / static_cast<double>(n) : gv);
            }
        }
    });
    // -- the nn families (kernels/cpu/nn.cpp; Note [Kernel contract]) ------------------------------------------------
    // geometry: (KH, KW, SH, SW, PH, PW, DH, DW); images NCHW with element strides; outputs contiguous, their shape
    // passed so it can be checked against the one the geometry implies
    m.def("im2col", [](int dt, Memory x, int64_t xo, const Shape& xs, const Shape& xst, Memory o, int64_t oo,
                       const Shape& os, const Shape& geometry) {
        require_float(dt, "im2col");
        const ts::nn::Geometry g = geometry_of("im2col", geometry);
        const ts::nn::Image xi = image(x, xo, xs, xst, dt, "im2col: x");
        const int64_t oh = blocks_along("im2col", xi.h, g.kh, g.sh, g.ph, g.dh);
        const int64_t ow = blocks_along("im2col", xi.w, g.kw, g.sw, g.pw, g.dw);
        if (os != Shape{xi.n, xi.c * g.kh * g.kw, oh * ow})
            throw std::invalid_argument("im2col: out must have shape (N, C*KH*KW, OH*OW)");
        char* op_ = contiguous_out(o, oo, os, dt, "im2col: out");
        MaybeRelease r(numel_of("im2col", os));
        ts::nn::im2col(dt, xi, op_, oh, ow, g);
    });
    m.def("col2im", [](int dt, Memory cols, int64_t co, const Shape& cst, Memory o, int64_t oo, const Shape& os,
                       const Shape& geometry) {
        require_float(dt, "col2im");
        const ts::nn::Geometry g = geometry_of("col2im", geometry);
        check_shape4("col2im: out", os, os);
        const int64_t oh = blocks_along("col2im", os[2], g.kh, g.sh, g.ph, g.dh);
        const int64_t ow = blocks_along("col2im", os[3], g.kw, g.sw, g.pw, g.dw);
        if (cst.size() != 3) throw std::invalid_argument("col2im: cols must be 3-D");
        const Shape cs{os[0], os[1] * g.kh * g.kw, oh * ow, 1};
        const ts::nn::Image ci = image(cols, co, cs, {cst[0], cst[1], cst[2], 1}, dt, "col2im: cols");
        char* op_ = contiguous_out(o, oo, os, dt, "col2im: out");
        MaybeRelease r(numel_of("col2im", cs) + numel_of("col2im", os));
        ts::nn::col2im(dt, ci, op_, os[0], os[1], os[2], os[3], oh, ow, g);
    });
    m.def("max_pool2d", [](int dt, Memory x, int64_t xo, const Shape& xs, const Shape& xst, Memory o, int64_t oo,
                           const Shape& os, const Shape& geometry) {
        // OH and OW come from out's shape (ceil_mode may add a window); windows wholly outside x give -inf
        require_float(dt, "max_pool2d");
        const ts::nn::Geometry g = geometry_of("max_pool2d", geometry);
        const ts::nn::Image xi = image(x, xo, xs, xst, dt, "max_pool2d: x");
        check_shape4("max_pool2d: out", os, os);
        if (os[0] != xi.n || os[1] != xi.c) throw std::invalid_argument("max_pool2d: out must be (N, C, OH, OW)");
        char* op_ = contiguous_out(o, oo, os, dt, "max_pool2d: out");
        MaybeRelease r(numel_of("max_pool2d", os, {g.kh, g.kw}));
        ts::nn::max_pool2d(dt, xi, op_, os[2], os[3], g);
    });
    m.def("max_pool2d_backward", [](int dt, Memory grad, int64_t go, const Shape& gs, const Shape& gst, Memory x,
                                    int64_t xo, const Shape& xs, const Shape& xst, Memory o, int64_t oo,
                                    const Shape& geometry) {
        max_pool2d_backward_entry(dt, grad, go, gs, gst, x, xo, xs, xst, o, oo, geometry, false);
    });
    m.def("_max_pool2d_backward_general", [](int dt, Memory grad, int64_t go, const Shape& gs, const Shape& gst,
                                             Memory x, int64_t xo, const Shape& xs, const Shape& xst, Memory o,
                                             int64_t oo, const Shape& geometry) {
        max_pool2d_backward_entry(dt, grad, go, gs, gst, x, xo, xs, xst, o, oo, geometry, true);
    }, "max_pool2d_backward by its general two-pass path even where the windows are disjoint.  For tests.");
    m.def("avg_pool2d", [](int dt, Memory x, int64_t xo, const Shape& xs, const Shape& xst, Memory o, int64_t oo,
                           const Shape& os, const Shape& geometry, bool include_pad) {
        require_float(dt, "avg_pool2d");
        const ts::nn::Geometry g = geometry_of("avg_pool2d", geometry);
        const ts::nn::Image xi = image(x, xo, xs, xst, dt, "avg_pool2d: x");
        check_shape4("avg_pool2d: out", os, os);
        if (os[0] != xi.n || os[1] != xi.c) throw std::invalid_argument("avg_pool2d: out must be (N, C, OH, OW)");
        char* op_ = contiguous_out(o, oo, os, dt, "avg_pool2d: out");
        MaybeRelease r(numel_of("avg_pool2d", os, {g.kh, g.kw}));
        ts::nn::avg_pool2d(dt, xi, op_, os[2], os[3], g, include_pad);
    });
    m.def("avg_pool2d_backward", [](int dt, Memory grad, int64_t go, const Shape& gs, const Shape& gst, Memory o,
                                    int64_t oo, const Shape& os, const Shape& geometry, bool include_pad) {
        require_float(dt, "avg_pool2d_backward");
        const ts::nn::Geometry g = geometry_of("avg_pool2d_backward", geometry);
        const ts::nn::Image gi = image(grad, go, gs, gst, dt, "avg_pool2d_backward: grad");
        check_shape4("avg_pool2d_backward: out", os, os);
        if (os[0] != gi.n || os[1] != gi.c)
            throw std::invalid_argument("avg_pool2d_backward: out must be (N, C, H, W) of grad's N and C");
        char* op_ = contiguous_out(o, oo, os, dt, "avg_pool2d_backward: out");
        MaybeRelease r(numel_of("avg_pool2d_backward", os, {g.kh, g.kw}));
        ts::nn::avg_pool2d_backward(dt, gi, op_, os[2], os[3], g, include_pad);
    });
    m.def("take_along_axis", [](int dt, const Shape& shape, Memory o, int64_t oo, const Shape& os, Memory x,
                                int64_t xo, const Shape& xst, int64_t x_axis_size, Memory index, int64_t io,
                                const Shape& ist, int axis) {
        // index values are checked in the loop as well: one that is out of range reads nothing and raises after
        check_index_layout("take_along_axis", shape, {&os, &xst, &ist}, axis);
        Shape xs = shape;
        xs[axis] = x_axis_size;
        char* op_ = Reach(oo).dims(shape, os).check(o, dt, "take_along_axis: out");
        char* xp = Reach(xo).dims(xs, xst).check(x, dt, "take_along_axis: x");
        char* ip = Reach(io).dims(shape, ist).check(index, 4, "take_along_axis: index");
        MaybeRelease r(numel_of("take_along_axis", shape));
        if (!ts::nn::take_along_axis(dt, shape, op_, os, xp, xst, x_axis_size, reinterpret_cast<const int64_t*>(ip),
                                     ist, axis))
            outside("take_along_axis", "an index is outside [0, " + std::to_string(x_axis_size) + ")");
    });
    m.def("scatter_add", [](int dt, const Shape& shape, Memory o, int64_t oo, int64_t out_axis_size, Memory index,
                            int64_t io, const Shape& ist, Memory src, int64_t so, const Shape& sst, int axis) {
        // out is contiguous with src's shape but out_axis_size along axis; index values are checked in the loop
        // too: one that is out of range writes nothing and raises after
        check_index_layout("scatter_add", shape, {&ist, &sst}, axis);
        Shape os = shape;
        os[axis] = out_axis_size;
        char* op_ = contiguous_out(o, oo, os, dt, "scatter_add: out");
        char* ip = Reach(io).dims(shape, ist).check(index, 4, "scatter_add: index");
        char* sp = Reach(so).dims(shape, sst).check(src, dt, "scatter_add: src");
        MaybeRelease r(numel_of("scatter_add", shape));
        if (!ts::nn::scatter_add(dt, shape, op_, out_axis_size, reinterpret_cast<const int64_t*>(ip), ist, sp, sst,
                                 axis))
            outside("scatter_add", "an index is outside [0, " + std::to_string(out_axis_size) + ")");
    });
    // -- sorting: sort, argsort, searchsorted (compute in sort.cpp) ------------------------------------------------
    // x any strides, ndim >= 1; out contiguous with x's shape: x's dtype for sort, int64 for argsort
    auto sort_entry = [](const char* what, bool values, int dt, const Shape& shape, Memory x, int64_t xo,
                         const Shape& xst, int axis, bool descending, Memory o, int64_t oo) {
        check_index_layout(what, shape, {&xst}, axis);
        char* xp = Reach(xo).dims(shape, xst).check(x, dt, what);
        char* op_ = contiguous_out(o, oo, shape, values ? dt : 4, what);
        MaybeRelease r(numel_of(what, shape));
        ts::sort::sort(dt, shape, xp, xst, axis, descending, values ? op_ : nullptr,
                       values ? nullptr : reinterpret_cast<int64_t*>(op_));
    };
    m.def("sort", [sort_entry](int dt, const Shape& shape, Memory x, int64_t xo, const Shape& xst, int axis,
                               bool descending, Memory o, int64_t oo) {
        sort_entry("sort", true, dt, shape, x, xo, xst, axis, descending, o, oo);
    }, "Sort x along axis, stably, into the contiguous out (Note [Sort order] in sort.cpp).");
    m.def("argsort", [sort_entry](int dt, const Shape& shape, Memory x, int64_t xo, const Shape& xst, int axis,
                                  bool descending, Memory o, int64_t oo) {
        sort_entry("argsort", false, dt, shape, x, xo, xst, axis, descending, o, oo);
    }, "The int64 positions that sort x along axis, stably, into the contiguous out.");
    m.def("searchsorted", [](int dt, Memory x1, int64_t x1o, int64_t n1, int64_t s1, py::object sorter, int64_t so,
                             int64_t ss, const Shape& shape, Memory x2, int64_t x2o, const Shape& x2st, bool right,
                             Memory o, int64_t oo) {
        // x1 1-D (n1 >= 1, stride s1); sorter None or int64 of x1's length, its values checked as they are read
        if (n1 < 1) throw std::invalid_argument("searchsorted: x1 must have at least one element");
        if (x2st.size() != shape.size()) throw std::invalid_argument("strides and shape differ in length");
        char* p1 = Reach(x1o).dim(n1, s1).check(x1, dt, "searchsorted: x1");
        const int64_t* sp = nullptr;
        if (!sorter.is_none())
            sp = reinterpret_cast<const int64_t*>(Reach(so).dim(n1, ss).check(sorter, 4, "searchsorted: sorter"));
        char* p2 = Reach(x2o).dims(shape, x2st).check(x2, dt, "searchsorted: x2");
        char* op_ = contiguous_out(o, oo, shape, 4, "searchsorted: out");
        int64_t steps = 1;
        while ((int64_t(1) << steps) < n1) ++steps;
        MaybeRelease r(numel_of("searchsorted", shape, {steps}));
        if (!ts::sort::searchsorted(dt, p1, n1, s1, sp, ss, shape, p2, x2st, right, reinterpret_cast<int64_t*>(op_)))
            outside("searchsorted", "a sorter index is outside [0, " + std::to_string(n1) + ")");
    }, "For each x2 element, its insertion point in the sorted x1 (side left or right).");

    // -- scans and array indexing: cumulative sums/products, nonzero, gather/put (compute in scan.cpp) -------------
    // (issue 8, scans) Each entry checks every operand's layout first (Note [Bounds checks]); index values are
    // checked in the loops as well: one that is out of range reads and writes nothing and raises after.
    m.def("cumulative", [](int dt, bool product, const Shape& shape, int axis, Memory o, int64_t oo, const Shape& os,
                           Memory x, int64_t xo, const Shape& xs) {
        check_index_layout("cumulative", shape, {&os, &xs}, axis);
        char* op_ = Reach(oo).dims(shape, os).check(o, dt, "cumulative: out");
        char* xp = Reach(xo).dims(shape, xs).check(x, dt, "cumulative: x");
        MaybeRelease r(numel_of("cumulative", shape));
        ts::scan::cumulative(dt, product, shape, axis, op_, os, xp, xs);
    });
    m.def("count_nonzero", [](int dt, const Shape& shape, Memory x, int64_t xo, const Shape& xs) {
        char* xp = Reach(xo).dims(shape, xs).check(x, dt, "count_nonzero: x");
        MaybeRelease r(numel_of("count_nonzero", shape));
        return ts::scan::count_nonzero(dt, shape, xp, xs);
    });
    m.def("nonzero", [](int dt, const Shape& shape, Memory x, int64_t xo, const Shape& xs, Memory o, int64_t oo,
                        int64_t count) {
        // out (ndim, count) int64 contiguous; count comes from count_nonzero, and a tensor written by another thread
        // in between must not make the loop write past out
        if (shape.empty()) throw std::invalid_argument("nonzero: the tensor must have at least one dimension");
        char* xp = Reach(xo).dims(shape, xs).check(x, dt, "nonzero: x");
        char* op_ = contiguous_out(o, oo, {static_cast<int64_t>(shape.size()), count}, 4, "nonzero: out");
        int64_t found;
        {
            MaybeRelease r(numel_of("nonzero", shape));
            found = ts::scan::nonzero(dt, shape, xp, xs, reinterpret_cast<int64_t*>(op_), count);
        }
        if (found != count)
            throw std::runtime_error("nonzero: the tensor has " + std::to_string(found) + " nonzero elements, not the " +
                                     std::to_string(count) + " counted before (was it written meanwhile?)");
    });
    // indices: a list of (memory, element offset, strides over shape, extent of the indexed axis, its stride), int64
    auto index_operands = [](const char* what, const Shape& shape, const py::list& indices, Reach& reach) {
        std::vector<ts::scan::Index> out;
        for (auto item : indices) {
            auto t = item.cast<py::tuple>();
            if (t.size() != 5) throw std::invalid_argument(std::string(what) + ": an index is (memory, offset, "
                                                           "strides, size, step)");
            const Shape strides = t[2].cast<Shape>();
            if (strides.size() != shape.size()) throw std::invalid_argument("strides and shape differ in length");
            const int64_t size = t[3].cast<int64_t>(), step = t[4].cast<int64_t>();
            if (size < 0) outside(what, "a negative axis extent");
            py::object mem = t[0];
            char* p = Reach(t[1].cast<int64_t>()).dims(shape, strides).check(mem, 4, what);
            reach.dim(size, step);
            out.push_back({reinterpret_cast<const int64_t*>(p), strides, size, step});
        }
        if (out.size() > static_cast<size_t>(ts::kMaxDims))
            throw std::invalid_argument(std::string(what) + ": at most 32 index operands");
        return out;
    };
    m.def("gather", [index_operands](int dt, const Shape& shape, Memory o, int64_t oo, Memory x, int64_t xo,
                                     const Shape& xs, const py::list& indices) {
        char* op_ = contiguous_out(o, oo, shape, dt, "gather: out");
        Reach reach(xo);
        reach.dims(shape, xs);
        const auto index = index_operands("gather: index", shape, indices, reach);
        char* xp = reach.check(x, dt, "gather: x");  // everything an in-range index can reach
        bool ok;
        {
            MaybeRelease r(numel_of("gather", shape));
            ok = ts::scan::gather(dt, shape, op_, xp, xs, index);
        }
        if (!ok) outside("gather", "an index is outside its axis");
    });
    m.def("put", [index_operands](int dt, const Shape& shape, Memory o, int64_t oo, const Shape& os,
                                  const py::list& indices, Memory v, int64_t vo, const Shape& vs) {
        Reach reach(oo);
        reach.dims(shape, os);
        const auto index = index_operands("put: index", shape, indices, reach);
        char* op_ = reach.check(o, dt, "put: out");
        char* vp = Reach(vo).dims(shape, vs).check(v, dt, "put: values");
        bool ok;
        {
            MaybeRelease r(numel_of("put", shape));
            ok = ts::scan::put(dt, shape, op_, os, index, vp, vs);
        }
        if (!ok) outside("put", "an index is outside its axis");
    });

    // -- linalg: LAPACK through function pointers handed over like BLAS's (compute in linalg.cpp) ------------------
    // Each operand comes as (memory, offset, batch strides, row stride, column stride) over the call's batch shape;
    // outputs are contiguous.  Every layout is checked first (Note [Bounds checks]), extents must be >= 0.
    {
        auto operand = [](const char* what, int dt, const Shape& batch, Memory mem, int64_t off, const Shape& bst,
                          int64_t rows, int64_t rs, int64_t cols, int64_t cs) {
            if (rows < 0 || cols < 0) outside(what, "a negative extent in the shape");
            char* p = Reach(off).dims(batch, bst).dim(rows, rs).dim(cols, cs).check(mem, dt, what);
            return ts::linalg::Operand{p, bst, rs, cs};
        };
        auto out_of = [](const char* what, int dt, const Shape& batch, Memory mem, int64_t off, int64_t rows,
                         int64_t cols) {
            return Reach(off).dim(numel_of(what, batch, {rows, cols}), 1).check(mem, dt, what);
        };
        auto work = [](const Shape& batch, int64_t a, int64_t b, int64_t c) {
            return numel_of("linalg", batch, {a, b, c});
        };
        m.def("set_lapack", [](int routine, int precision, uintptr_t address) {
            ts::linalg::set_lapack(routine, precision, address);
        }, "Hand over a LAPACK routine's address (routine, precision: as in lapack_symbols; 0 forgets it).");
        {  // (routine, precision, name) of every routine to hand over: (0, 0, "sgetrf") ... (6, 3, "zgesdd")
            std::vector<std::tuple<int, int, std::string>> symbols;
            for (int r = 0; r < ts::linalg::kRoutines; ++r)
                for (int p = 0; p < ts::linalg::kPrecisions; ++p) symbols.emplace_back(r, p, ts::linalg::symbol(r, p));
            m.attr("lapack_symbols") = py::cast(symbols);
        }
        m.def("has_lapack", &ts::linalg::has_lapack);
        m.def("cholesky", [=](int dt, const Shape& batch, int64_t n, Memory x, int64_t xo, const Shape& xbs,
                              int64_t xrs, int64_t xcs, Memory o, int64_t oo, bool upper) {
            auto xa = operand("cholesky: x", dt, batch, x, xo, xbs, n, xrs, n, xcs);
            char* op_ = out_of("cholesky: out", dt, batch, o, oo, n, n);
            MaybeRelease r(work(batch, n, n, n));
            ts::linalg::cholesky(dt, batch, n, xa, op_, upper);
        });
        m.def("lu", [=](int dt, const Shape& batch, int64_t n, Memory x, int64_t xo, const Shape& xbs, int64_t xrs,
                        int64_t xcs, Memory o, int64_t oo, Memory piv, int64_t po) {
            auto xa = operand("lu: x", dt, batch, x, xo, xbs, n, xrs, n, xcs);
            char* op_ = out_of("lu: out", dt, batch, o, oo, n, n);
            char* pp = out_of("lu: pivots", 4, batch, piv, po, n, 1);
            MaybeRelease r(work(batch, n, n, n));
            ts::linalg::lu(dt, batch, n, xa, op_, reinterpret_cast<int64_t*>(pp));
        });
        m.def("lu_solve", [=](int dt, const Shape& batch, int64_t n, int64_t k, Memory lu, int64_t lo,
                              const Shape& lbs, int64_t lrs, int64_t lcs, Memory piv, int64_t po, const Shape& pbs,
                              int64_t ps, Memory b, int64_t bo, const Shape& bbs, int64_t brs, int64_t bcs, Memory o,
                              int64_t oo) {
            auto la = operand("lu_solve: lu", dt, batch, lu, lo, lbs, n, lrs, n, lcs);
            auto pa = operand("lu_solve: pivots", 4, batch, piv, po, pbs, n, ps, 1, 0);
            auto ba = operand("lu_solve: b", dt, batch, b, bo, bbs, n, brs, k, bcs);
            char* op_ = out_of("lu_solve: out", dt, batch, o, oo, n, k);
            MaybeRelease r(work(batch, n, n, k + 1));
            ts::linalg::lu_solve(dt, batch, n, k, la, pa, ba, op_);
        });
        m.def("qr", [=](int dt, const Shape& batch, int64_t mr, int64_t nc, int64_t kq, Memory x, int64_t xo,
                        const Shape& xbs, int64_t xrs, int64_t xcs, Memory q, int64_t qo, Memory rm, int64_t ro) {
            if (kq != mr && kq != std::min(mr, nc)) throw std::invalid_argument("qr: Q must have m or min(m, n) columns");
            auto xa = operand("qr: x", dt, batch, x, xo, xbs, mr, xrs, nc, xcs);
            char* qp = out_of("qr: q", dt, batch, q, qo, mr, kq);
            char* rp = out_of("qr: r", dt, batch, rm, ro, kq, nc);
            MaybeRelease r(work(batch, mr, nc, std::max(kq, nc)));
            ts::linalg::qr(dt, batch, mr, nc, kq, xa, qp, rp);
        });
        m.def("eigh", [=](int dt, const Shape& batch, int64_t n, Memory x, int64_t xo, const Shape& xbs, int64_t xrs,
                          int64_t xcs, Memory w, int64_t wo, py::object v, int64_t vo) {
            auto xa = operand("eigh: x", dt, batch, x, xo, xbs, n, xrs, n, xcs);
            char* wp = out_of("eigh: w", ts::linalg::real_dtype(dt), batch, w, wo, n, 1);  // real for complex x
            char* vp = v.is_none() ? nullptr : out_of("eigh: v", dt, batch, v, vo, n, n);
            MaybeRelease r(work(batch, n, n, n));
            ts::linalg::eigh(dt, batch, n, xa, wp, vp);
        });
        m.def("svd", [=](int dt, const Shape& batch, int64_t mr, int64_t nc, int64_t ku, int64_t kv, Memory x,
                         int64_t xo, const Shape& xbs, int64_t xrs, int64_t xcs, Memory s, int64_t so, py::object u,
                         int64_t uo, py::object vh, int64_t vho) {
            const int64_t k = std::min(mr, nc);
            if (u.is_none() != vh.is_none()) throw std::invalid_argument("svd: pass both u and vh, or neither");
            if (!u.is_none() && !((ku == k && kv == k) || (ku == mr && kv == nc)))
                throw std::invalid_argument("svd: u and vh must be (m, k), (k, n) or (m, m), (n, n)");
            auto xa = operand("svd: x", dt, batch, x, xo, xbs, mr, xrs, nc, xcs);
            char* sp = out_of("svd: s", ts::linalg::real_dtype(dt), batch, s, so, k, 1);  // real for complex x
            char* up = u.is_none() ? nullptr : out_of("svd: u", dt, batch, u, uo, mr, ku);
            char* vp = vh.is_none() ? nullptr : out_of("svd: vh", dt, batch, vh, vho, kv, nc);
            MaybeRelease r(work(batch, mr, nc, std::max(mr, nc)));
            ts::linalg::svd(dt, batch, mr, nc, ku, kv, xa, sp, up, vp);
        });
    }

    m.def("set_blas", [](uintptr_t s, uintptr_t d) {
        sgemm = reinterpret_cast<gemm_f>(s);
        dgemm = reinterpret_cast<gemm_d>(d);
    }, "Hand over cblas_sgemm and cblas_dgemm (addresses; 0 to use our own loops).");
    m.def("set_complex_blas", [](uintptr_t c, uintptr_t z) {
        cgemm = reinterpret_cast<gemm_c>(c);
        zgemm = reinterpret_cast<gemm_c>(z);
    }, "Hand over cblas_cgemm and cblas_zgemm (addresses; 0 to use our own loops).");
    m.def("has_blas", [] { return sgemm != nullptr; });
}
