// tensorswitch._opencl: the opencl backend's kernel launches in one C call (Note [OpenCL launches]) and its
// allocations (Note [OpenCL allocations]).
//
// Note [OpenCL launches]
// ~~~~~~~~~~~~~~~~~~~~~~
// A PyOpenCL kernel call converts every argument through its generated Python invoker, makes an Event object and
// returns it: about 4 us on PoCL for add on 10 elements, against 2.5 us for a bare enqueue with the arguments set
// beforehand.  A Launcher holds one kernel object with its argument kinds (read once from the kernel's argument
// info) and the device's queue, and does what the invoker does in C: clSetKernelArg for each argument that differs
// from the one set last (a training loop's launches repeat most of theirs: the memory pool hands the same buffers
// back) and one clEnqueueNDRangeKernel, with no event asked for (the queue is in order; nothing waits on a single
// launch).  OpenCL takes a kernel's arguments as they are at the enqueue, so a later change cannot reach a launch
// already enqueued.
//
// The OpenCL entry points are not linked: they are looked up in the ICD loader PyOpenCL has already loaded (its path
// comes from Python, bind()), so this module builds without OpenCL headers or libraries and runs against whatever
// OpenCL PyOpenCL runs against.  The handles (kernel, queue, buffers) are PyOpenCL's, read from their ``int_ptr``;
// the Launcher keeps the kernel and queue objects alive.
//
// clSetKernelArg is the one OpenCL call that is not thread-safe on a shared kernel object: setting and enqueueing
// happen under the Launcher's own mutex, so two threads launching one kernel never mix their arguments (Note
// [OpenCL threads] in backends/opencl.py).  A launch the driver refuses raises LaunchError with the driver's code;
// the backend then repeats it through PyOpenCL to get PyOpenCL's exception and its message (Note [OpenCL errors]).

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include <dlfcn.h>

#include <cstdint>
#include <cstring>
#include <mutex>
#include <new>
#include <string>

namespace {

using cl_int = int32_t;
using cl_uint = uint32_t;
using SetKernelArg = cl_int (*)(void* kernel, cl_uint index, size_t size, const void* value);
using EnqueueNDRangeKernel = cl_int (*)(void* queue, void* kernel, cl_uint dims, const size_t* offset,
                                        const size_t* global, const size_t* local, cl_uint events,
                                        const void* wait_list, void** event);

SetKernelArg g_set_arg = nullptr;
EnqueueNDRangeKernel g_enqueue = nullptr;
PyObject* g_launch_error = nullptr;  // _opencl.LaunchError
PyObject* g_int_ptr = nullptr;       // "int_ptr", interned
PyObject* g_size = nullptr;          // "size", interned

// Argument kinds, one letter each (the Launcher's ``kinds``): a global or constant buffer, a local buffer (an
// object with ``size``, like pyopencl.LocalMemory), and the scalar types the kernels take.
constexpr char kBuffer = 'm', kLocal = 'l', kLong = 'q', kULong = 'Q', kInt = 'i', kUInt = 'I', kFloat = 'f',
               kDouble = 'd', kComplex64 = 'F', kComplex128 = 'D';

struct Launcher {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject* kernel_object;  // the pyopencl.Kernel
    PyObject* queue_object;   // the pyopencl.CommandQueue
    void* kernel;
    void* queue;
    std::string* kinds;
    std::mutex* mutex;
    struct Arg {
        unsigned char value[16];
        size_t size;
        bool set;  // value and size are what the kernel object holds
    } * last;      // one per argument: what was set last, so that an unchanged argument is not set again
};

void* handle_of(PyObject* obj) {  // None: no buffer (a null cl_mem, which kernels may take for an unused one)
    if (obj == Py_None) return nullptr;
    PyObject* ptr = PyLong_Check(obj) ? (Py_INCREF(obj), obj) : PyObject_GetAttr(obj, g_int_ptr);
    if (!ptr) return nullptr;
    void* handle = PyLong_AsVoidPtr(ptr);
    Py_DECREF(ptr);
    return handle;
}

size_t as_size(PyObject* obj) {  // any integer (a NumPy one too); (size_t)-1 with an exception set on failure
    if (PyLong_Check(obj)) return PyLong_AsSize_t(obj);
    PyObject* index = PyNumber_Index(obj);
    if (!index) return static_cast<size_t>(-1);
    const size_t v = PyLong_AsSize_t(index);
    Py_DECREF(index);
    return v;
}

bool sizes(PyObject* obj, size_t out[3], cl_uint* dims, const char* what) {
    if (!PyTuple_Check(obj) && PyIndex_Check(obj)) {
        out[0] = as_size(obj);
        *dims = 1;
        return !PyErr_Occurred();
    }
    if (!PyTuple_Check(obj) || PyTuple_GET_SIZE(obj) < 1 || PyTuple_GET_SIZE(obj) > 3) {
        PyErr_Format(PyExc_TypeError, "Launcher: the %s size must be a tuple of 1 to 3 ints", what);
        return false;
    }
    *dims = static_cast<cl_uint>(PyTuple_GET_SIZE(obj));
    for (cl_uint d = 0; d < *dims; ++d) {
        out[d] = as_size(PyTuple_GET_ITEM(obj, d));
        if (PyErr_Occurred()) return false;
    }
    return true;
}

// One argument's bytes into ``value`` (at least 16 bytes); its size in ``size``; false with an exception set.
bool convert(char kind, PyObject* obj, unsigned char* value, size_t* size, bool* local) {
    *local = false;
    switch (kind) {
    case kBuffer: {
        void* handle = handle_of(obj);
        if (!handle && PyErr_Occurred()) return false;
        std::memcpy(value, &handle, sizeof handle);
        *size = sizeof handle;
        return true;
    }
    case kLocal: {
        PyObject* n = PyObject_GetAttr(obj, g_size);
        if (!n) return false;
        *size = as_size(n);
        Py_DECREF(n);
        *local = true;
        return !PyErr_Occurred();
    }
    case kLong: case kInt: {
        const long long v = PyLong_AsLongLong(obj);
        if (v == -1 && PyErr_Occurred()) return false;
        if (kind == kInt) {
            if (v < INT32_MIN || v > INT32_MAX) {
                PyErr_Format(PyExc_OverflowError, "Launcher: %lld does not fit an int argument", v);
                return false;
            }
            const int32_t w = static_cast<int32_t>(v);
            std::memcpy(value, &w, *size = sizeof w);
        } else {
            const int64_t w = v;
            std::memcpy(value, &w, *size = sizeof w);
        }
        return true;
    }
    case kULong: case kUInt: {
        PyObject* index = PyNumber_Index(obj);
        if (!index) return false;
        const unsigned long long v = PyLong_AsUnsignedLongLong(index);
        Py_DECREF(index);
        if (v == static_cast<unsigned long long>(-1) && PyErr_Occurred()) return false;
        if (kind == kUInt) {
            if (v > UINT32_MAX) {
                PyErr_Format(PyExc_OverflowError, "Launcher: %llu does not fit a uint argument", v);
                return false;
            }
            const uint32_t w = static_cast<uint32_t>(v);
            std::memcpy(value, &w, *size = sizeof w);
        } else {
            const uint64_t w = v;
            std::memcpy(value, &w, *size = sizeof w);
        }
        return true;
    }
    case kFloat: case kDouble: {
        const double v = PyFloat_AsDouble(obj);
        if (v == -1.0 && PyErr_Occurred()) return false;
        if (kind == kFloat) {
            const float w = static_cast<float>(v);
            std::memcpy(value, &w, *size = sizeof w);
        } else {
            std::memcpy(value, &v, *size = sizeof v);
        }
        return true;
    }
    case kComplex64: case kComplex128: {
        const Py_complex v = PyComplex_AsCComplex(obj);
        if (v.real == -1.0 && PyErr_Occurred()) return false;
        if (kind == kComplex64) {
            const float w[2] = {static_cast<float>(v.real), static_cast<float>(v.imag)};
            std::memcpy(value, w, *size = sizeof w);
        } else {
            const double w[2] = {v.real, v.imag};
            std::memcpy(value, w, *size = sizeof w);
        }
        return true;
    }
    default:
        PyErr_Format(PyExc_ValueError, "Launcher: unknown argument kind %c", kind);
        return false;
    }
}

// launcher(global_size, local_size or None, *arguments)
PyObject* launcher_call(PyObject* self_obj, PyObject* const* args, size_t nargsf, PyObject* kwnames) {
    auto* self = reinterpret_cast<Launcher*>(self_obj);
    const Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    const std::string& kinds = *self->kinds;
    if (kwnames && PyTuple_GET_SIZE(kwnames)) {
        PyErr_SetString(PyExc_TypeError, "Launcher takes no keyword arguments");
        return nullptr;
    }
    if (nargs != static_cast<Py_ssize_t>(kinds.size()) + 2) {
        PyErr_Format(PyExc_TypeError, "Launcher: the kernel takes %zd arguments, %zd were given",
                     static_cast<Py_ssize_t>(kinds.size()), nargs - 2);
        return nullptr;
    }
    size_t global[3], local[3];
    cl_uint dims = 0, local_dims = 0;
    if (!sizes(args[0], global, &dims, "global")) return nullptr;
    const bool has_local = args[1] != Py_None;
    if (has_local && (!sizes(args[1], local, &local_dims, "local") || local_dims != dims)) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "Launcher: global and local sizes differ in rank");
        return nullptr;
    }
    // Convert every argument before touching the kernel, so a bad one leaves its arguments as they were.
    constexpr size_t kMaxArgs = 64;
    if (kinds.size() > kMaxArgs) {
        PyErr_SetString(PyExc_ValueError, "Launcher: more than 64 kernel arguments");
        return nullptr;
    }
    unsigned char values[kMaxArgs][16];
    size_t arg_sizes[kMaxArgs];
    bool locals[kMaxArgs];
    for (size_t i = 0; i < kinds.size(); ++i)
        if (!convert(kinds[i], args[i + 2], values[i], &arg_sizes[i], &locals[i])) return nullptr;
    cl_int code = 0;
    const char* step = "clSetKernelArg";
    {
        std::lock_guard<std::mutex> guard(*self->mutex);
        for (size_t i = 0; i < kinds.size() && code == 0; ++i) {
            Launcher::Arg& last = self->last[i];
            if (last.set && last.size == arg_sizes[i] && (locals[i] || !std::memcmp(last.value, values[i], last.size)))
                continue;  // a loop's launches mostly repeat their arguments (a pool hands back the same buffers)
            last.set = false;
            code = g_set_arg(self->kernel, static_cast<cl_uint>(i), arg_sizes[i], locals[i] ? nullptr : values[i]);
            if (code == 0) {
                std::memcpy(last.value, values[i], locals[i] ? 0 : arg_sizes[i]);
                last.size = arg_sizes[i];
                last.set = true;
            }
        }
        if (code == 0) {
            step = "clEnqueueNDRangeKernel";
            code = g_enqueue(self->queue, self->kernel, dims, nullptr, global, has_local ? local : nullptr, 0,
                             nullptr, nullptr);
        }
    }
    if (code != 0) {
        PyObject* exc = PyObject_CallFunction(g_launch_error, "si", step, static_cast<int>(code));
        if (exc) {
            PyErr_SetObject(g_launch_error, exc);
            Py_DECREF(exc);
        }
        return nullptr;
    }
    Py_RETURN_NONE;
}

// Launcher(kernel, queue, kinds)
PyObject* launcher_new(PyTypeObject* type, PyObject* args, PyObject* kwargs) {
    static const char* names[] = {"kernel", "queue", "kinds", nullptr};
    PyObject *kernel, *queue;
    const char* kinds;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOs", const_cast<char**>(names), &kernel, &queue, &kinds))
        return nullptr;
    if (!g_set_arg || !g_enqueue) {
        PyErr_SetString(PyExc_RuntimeError, "tensorswitch._opencl.bind() has not found the OpenCL library");
        return nullptr;
    }
    void* k = handle_of(kernel);
    if (!k) return nullptr;
    void* q = handle_of(queue);
    if (!q) return nullptr;
    auto* self = reinterpret_cast<Launcher*>(type->tp_alloc(type, 0));
    if (!self) return nullptr;
    try {
        self->kinds = new std::string(kinds);
        self->mutex = new std::mutex();
        self->last = new Launcher::Arg[self->kinds->size()]();
    } catch (const std::bad_alloc&) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    self->vectorcall = launcher_call;
    Py_INCREF(kernel);
    Py_INCREF(queue);
    self->kernel_object = kernel;
    self->queue_object = queue;
    self->kernel = k;
    self->queue = q;
    return reinterpret_cast<PyObject*>(self);
}

void launcher_dealloc(PyObject* self_obj) {
    auto* self = reinterpret_cast<Launcher*>(self_obj);
    Py_XDECREF(self->kernel_object);
    Py_XDECREF(self->queue_object);
    delete self->kinds;
    delete self->mutex;
    delete[] self->last;
    Py_TYPE(self_obj)->tp_free(self_obj);
}

PyObject* launcher_kernel(PyObject* self, void*) {
    PyObject* k = reinterpret_cast<Launcher*>(self)->kernel_object;
    Py_INCREF(k);
    return k;
}

PyObject* launcher_kinds(PyObject* self, void*) {
    return PyUnicode_FromString(reinterpret_cast<Launcher*>(self)->kinds->c_str());
}

// forget(): the kernel's arguments were set elsewhere (through PyOpenCL); set every one again on the next launch.
PyObject* launcher_forget(PyObject* self_obj, PyObject*) {
    auto* self = reinterpret_cast<Launcher*>(self_obj);
    std::lock_guard<std::mutex> guard(*self->mutex);
    for (size_t i = 0; i < self->kinds->size(); ++i) self->last[i].set = false;
    Py_RETURN_NONE;
}

PyMethodDef launcher_methods[] = {
    {"forget", launcher_forget, METH_NOARGS,
     "forget(): the kernel's arguments were set elsewhere; the next launch sets every one"},
    {nullptr, nullptr, 0, nullptr}};

PyGetSetDef launcher_getset[] = {
    {"kernel", launcher_kernel, nullptr, "the pyopencl.Kernel this launches", nullptr},
    {"kinds", launcher_kinds, nullptr, "one letter per argument: m buffer, l local, q/Q/i/I/f/d/F/D scalars",
     nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr}};

// Any other attribute is the kernel object's (function_name, get_work_group_info, ...): a Launcher stands in for it.
PyObject* launcher_getattro(PyObject* self, PyObject* name) {
    PyObject* found = PyObject_GenericGetAttr(self, name);
    if (found || !PyErr_ExceptionMatches(PyExc_AttributeError)) return found;
    PyErr_Clear();
    return PyObject_GetAttr(reinterpret_cast<Launcher*>(self)->kernel_object, name);
}

PyTypeObject LauncherType = {PyVarObject_HEAD_INIT(nullptr, 0) "tensorswitch._opencl.Launcher"};

// Note [OpenCL allocations]
// ~~~~~~~~~~~~~~~~~~~~~~~~~
// An Allocator is a device's allocate in C: it takes a buffer from PyOpenCL's memory pool and keeps the statistics
// (allocation count, peak of the pool's active bytes) that memory_stats reports.  The Python version cost 0.45 us of
// an opencl add on 10 elements (a lock, the pool call, three attribute updates); this costs the pool call and one
// property read.  The pool is PyOpenCL's C++ memory_pool, changed only under the GIL, and so are the statistics
// here: no other lock is needed, and every allocation of a device (the dispatcher's one-call path and the backend's
// Python calls alike) goes through its one Allocator, so the counts are whole.  A size over the device's largest
// single allocation raises MemoryError before the pool is asked (PyOpenCL would say INVALID_BUFFER_SIZE, or fail to
// convert it); the backend words the errors (Note [Backend contract]).  With a ``fresh`` callable, an allocation of
// at least ``large`` bytes that the pool could not serve from what it holds (its managed_bytes grew: a new
// cl_mem) is passed to fresh(buffer) before it is returned (Note [OpenCL huge pages] in backends/opencl.py).
struct Allocator {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject* pool;      // the pyopencl.tools.MemoryPool
    PyObject* allocate;  // its bound allocate
    PyObject* fresh;     // called with each new large buffer, or nullptr
    long long large;
    long long max_alloc;
    long long count;     // allocations made
    long long peak;      // the most the pool's active_bytes has been just after an allocation
};

PyObject* g_active_bytes = nullptr;   // "active_bytes", interned
PyObject* g_managed_bytes = nullptr;  // "managed_bytes", interned

// the pool's attribute ``name`` as a long long; -1 with an exception set on failure
long long pool_bytes(PyObject* pool, PyObject* name) {
    PyObject* v = PyObject_GetAttr(pool, name);
    if (!v) return -1;
    const long long n = PyLong_AsLongLong(v);
    Py_DECREF(v);
    return n;
}

// allocator(nbytes): a PooledBuffer of nbytes
PyObject* allocator_call(PyObject* self_obj, PyObject* const* args, size_t nargsf, PyObject* kwnames) {
    auto* self = reinterpret_cast<Allocator*>(self_obj);
    if (PyVectorcall_NARGS(nargsf) != 1 || (kwnames && PyTuple_GET_SIZE(kwnames))) {
        PyErr_SetString(PyExc_TypeError, "Allocator takes one argument: the size in bytes");
        return nullptr;
    }
    const long long n = PyLong_AsLongLong(args[0]);
    if (n == -1 && PyErr_Occurred()) return nullptr;
    if (n > self->max_alloc) {
        PyErr_Format(PyExc_MemoryError, "%lld bytes asked for in one buffer; the device's largest single allocation "
                     "is %lld bytes", n, self->max_alloc);
        return nullptr;
    }
    const bool large = self->fresh && n >= self->large;
    long long managed = 0;
    if (large && (managed = pool_bytes(self->pool, g_managed_bytes)) == -1 && PyErr_Occurred()) return nullptr;
    PyObject* buf = PyObject_Vectorcall(self->allocate, args, 1, nullptr);
    if (!buf) return nullptr;
    ++self->count;
    const long long a = pool_bytes(self->pool, g_active_bytes);
    if (a == -1 && PyErr_Occurred()) {
        Py_DECREF(buf);
        return nullptr;
    }
    if (a > self->peak) self->peak = a;
    if (large) {
        const long long now = pool_bytes(self->pool, g_managed_bytes);
        PyObject* r = now == -1 && PyErr_Occurred() ? nullptr
                      : now > managed                ? PyObject_CallOneArg(self->fresh, buf)
                                                     : Py_NewRef(Py_None);
        if (!r) {
            Py_DECREF(buf);
            return nullptr;
        }
        Py_DECREF(r);
    }
    return buf;
}

// Allocator(pool, max_alloc, fresh=None, large=0)
PyObject* allocator_new(PyTypeObject* type, PyObject* args, PyObject* kwargs) {
    static const char* names[] = {"pool", "max_alloc", "fresh", "large", nullptr};
    PyObject* pool;
    PyObject* fresh = Py_None;
    long long max_alloc, large = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OL|OL", const_cast<char**>(names), &pool, &max_alloc, &fresh,
                                     &large))
        return nullptr;
    PyObject* allocate = PyObject_GetAttrString(pool, "allocate");
    if (!allocate) return nullptr;
    auto* self = reinterpret_cast<Allocator*>(type->tp_alloc(type, 0));
    if (!self) {
        Py_DECREF(allocate);
        return nullptr;
    }
    self->vectorcall = allocator_call;
    Py_INCREF(pool);
    self->pool = pool;
    self->allocate = allocate;
    self->fresh = fresh == Py_None ? nullptr : Py_NewRef(fresh);
    self->large = large;
    self->max_alloc = max_alloc;
    return reinterpret_cast<PyObject*>(self);
}

void allocator_dealloc(PyObject* self_obj) {
    auto* self = reinterpret_cast<Allocator*>(self_obj);
    Py_XDECREF(self->pool);
    Py_XDECREF(self->allocate);
    Py_XDECREF(self->fresh);
    Py_TYPE(self_obj)->tp_free(self_obj);
}

PyMemberDef allocator_members[] = {
    {"pool", T_OBJECT_EX, offsetof(Allocator, pool), READONLY, "the memory pool"},
    {"max_alloc", T_LONGLONG, offsetof(Allocator, max_alloc), READONLY, "the largest single allocation, in bytes"},
    {"count", T_LONGLONG, offsetof(Allocator, count), 0, "allocations made"},
    {"peak", T_LONGLONG, offsetof(Allocator, peak), 0, "the pool's most active bytes"},
    {nullptr, 0, 0, 0, nullptr}};

PyTypeObject AllocatorType = {PyVarObject_HEAD_INIT(nullptr, 0) "tensorswitch._opencl.Allocator"};


// bind(path): find clSetKernelArg and clEnqueueNDRangeKernel in the OpenCL library at ``path`` (already loaded by
// PyOpenCL); False when it cannot be opened or lacks them.
PyObject* bind(PyObject*, PyObject* arg) {
    const char* path = PyUnicode_AsUTF8(arg);
    if (!path) return nullptr;
    void* lib = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
    if (!lib) lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) Py_RETURN_FALSE;
    auto set_arg = reinterpret_cast<SetKernelArg>(dlsym(lib, "clSetKernelArg"));
    auto enqueue = reinterpret_cast<EnqueueNDRangeKernel>(dlsym(lib, "clEnqueueNDRangeKernel"));
    if (!set_arg || !enqueue) Py_RETURN_FALSE;  // the handle stays open: the library is PyOpenCL's anyway
    g_set_arg = set_arg;
    g_enqueue = enqueue;
    Py_RETURN_TRUE;
}

PyMethodDef methods[] = {
    {"bind", bind, METH_O, "bind(path): use the OpenCL library at path (the one PyOpenCL loaded); True on success"},
    {nullptr, nullptr, 0, nullptr}};

PyModuleDef module = {PyModuleDef_HEAD_INIT, "_opencl", "The opencl backend's kernel launches in C.", -1, methods};

}  // namespace

PyMODINIT_FUNC PyInit__opencl() {
    LauncherType.tp_basicsize = sizeof(Launcher);
    LauncherType.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL;
    LauncherType.tp_doc = "Launcher(kernel, queue, kinds)(global_size, local_size, *arguments): one launch of a "
                          "pyopencl.Kernel on a queue, set and enqueued in C";
    LauncherType.tp_new = launcher_new;
    LauncherType.tp_dealloc = launcher_dealloc;
    LauncherType.tp_call = PyVectorcall_Call;
    LauncherType.tp_vectorcall_offset = offsetof(Launcher, vectorcall);
    LauncherType.tp_getset = launcher_getset;
    LauncherType.tp_methods = launcher_methods;
    LauncherType.tp_getattro = launcher_getattro;
    if (PyType_Ready(&LauncherType) < 0) return nullptr;
    AllocatorType.tp_basicsize = sizeof(Allocator);
    AllocatorType.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL;
    AllocatorType.tp_doc = "Allocator(pool, max_alloc)(nbytes): a buffer from a pyopencl MemoryPool, counted "
                           "(Note [OpenCL allocations])";
    AllocatorType.tp_new = allocator_new;
    AllocatorType.tp_dealloc = allocator_dealloc;
    AllocatorType.tp_call = PyVectorcall_Call;
    AllocatorType.tp_vectorcall_offset = offsetof(Allocator, vectorcall);
    AllocatorType.tp_members = allocator_members;
    if (PyType_Ready(&AllocatorType) < 0) return nullptr;
    PyObject* m = PyModule_Create(&module);
    if (!m) return nullptr;
    g_int_ptr = PyUnicode_InternFromString("int_ptr");
    g_size = PyUnicode_InternFromString("size");
    g_active_bytes = PyUnicode_InternFromString("active_bytes");
    g_managed_bytes = PyUnicode_InternFromString("managed_bytes");
    g_launch_error = PyErr_NewExceptionWithDoc("tensorswitch._opencl.LaunchError",
                                               "An OpenCL call of a launch failed: (step, code)", PyExc_RuntimeError,
                                               nullptr);
    if (!g_int_ptr || !g_size || !g_active_bytes || !g_managed_bytes || !g_launch_error ||
        PyModule_AddObject(m, "LaunchError", g_launch_error) < 0) {
        Py_DECREF(m);
        return nullptr;
    }
    Py_INCREF(g_launch_error);
    Py_INCREF(&LauncherType);
    if (PyModule_AddObject(m, "Launcher", reinterpret_cast<PyObject*>(&LauncherType)) < 0) {
        Py_DECREF(&LauncherType);
        Py_DECREF(m);
        return nullptr;
    }
    Py_INCREF(&AllocatorType);
    if (PyModule_AddObject(m, "Allocator", reinterpret_cast<PyObject*>(&AllocatorType)) < 0) {
        Py_DECREF(&AllocatorType);
        Py_DECREF(m);
        return nullptr;
    }
    return m;
}
