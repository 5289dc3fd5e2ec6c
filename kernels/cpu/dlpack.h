// DLPack: the structs of the DLPack ABI (https://dmlc.github.io/dlpack/latest/, versions 0.x "dltensor" and 1.x
// "dltensor_versioned"), written out here from the specification (they are a handful of plain C structs), and the
// two halves of the Python exchange protocol that tensorswitch needs:
//   export_capsule  a PyCapsule over memory that a Python object owns: the capsule's managed tensor holds a reference
//                   to that object, dropped by its deleter (called by the consumer when it is done, or by the
//                   capsule's destructor when no consumer took it);
//   parse_capsule   the layout of a capsule a producer made, checked, without consuming it; consume_capsule renames
//                   it ("used_dltensor", "used_dltensor_versioned") so that its destructor leaves the tensor alone, and
//                   call_deleter frees the tensor once the importer is done with the memory.
// The Python side (dispatch/interop.py) decides devices, dtypes and copies; see Note [DLPack exchange] there.
#pragma once

#include <Python.h>

#include <cstdint>
#include <cstring>
#include <new>
#include <type_traits>
#include <string>
#include <vector>

namespace ts {
namespace dlpack {

// -- the ABI ------------------------------------------------------------------------------------------------------

enum DeviceType : int32_t {  // DLDeviceType, the values tensorswitch names
    kDLCPU = 1,
    kDLCUDA = 2,
    kDLCUDAHost = 3,   // pinned host memory: the host can read it
    kDLOpenCL = 4,
    kDLROCM = 10,
    kDLROCMHost = 11,  // pinned host memory: the host can read it
};

enum TypeCode : uint8_t { kDLInt = 0, kDLUInt = 1, kDLFloat = 2, kDLBfloat = 4, kDLComplex = 5, kDLBool = 6 };

struct DLDevice {
    int32_t device_type;  // a DLDeviceType (an enum: int-sized in every ABI DLPack supports)
    int32_t device_id;
};

struct DLDataType {
    uint8_t code;
    uint8_t bits;
    uint16_t lanes;
};

struct DLTensor {
    void* data;
    DLDevice device;
    int32_t ndim;
    DLDataType dtype;
    int64_t* shape;
    int64_t* strides;  // in elements; NULL means C-contiguous (allowed before DLPack 1.2)
    uint64_t byte_offset;
};

struct DLManagedTensor {  // the legacy ("dltensor") capsule's content
    DLTensor dl_tensor;
    void* manager_ctx;
    void (*deleter)(DLManagedTensor* self);
};

struct DLPackVersion {
    uint32_t major;
    uint32_t minor;
};

constexpr uint64_t kFlagReadOnly = 1ull << 0;  // DLPACK_FLAG_BITMASK_READ_ONLY
constexpr uint64_t kFlagIsCopied = 1ull << 1;  // DLPACK_FLAG_BITMASK_IS_COPIED

struct DLManagedTensorVersioned {  // the versioned ("dltensor_versioned") capsule's content, DLPack >= 1.0
    DLPackVersion version;
    void* manager_ctx;
    void (*deleter)(DLManagedTensorVersioned* self);
    uint64_t flags;
    DLTensor dl_tensor;
};

constexpr const char* kLegacyName = "dltensor";
constexpr const char* kVersionedName = "dltensor_versioned";
constexpr const char* kUsedLegacyName = "used_dltensor";
constexpr const char* kUsedVersionedName = "used_dltensor_versioned";
constexpr uint32_t kMajor = 1;  // the DLPack major version tensorswitch reads and writes

// -- export -------------------------------------------------------------------------------------------------------

// What a capsule of ours owns: the managed tensor (first, so the deleter's pointer is the context), the shape and
// strides it points at, and a reference to the Python object that keeps the memory alive.
template <class Managed>
struct Exported {
    Managed managed;
    PyObject* owner;
    std::vector<int64_t> shape, strides;
};

template <class Managed>
void delete_exported(Managed* self) {
    auto* e = static_cast<Exported<Managed>*>(self->manager_ctx);
    // A consumer may call the deleter from any thread, with or without the GIL (the DLPack Python specification asks
    // producers to take it themselves).  After the interpreter has gone the owner cannot be released: leak it.
    if (!Py_IsInitialized()) return;
    PyGILState_STATE gil = PyGILState_Ensure();
    Py_XDECREF(e->owner);
    PyGILState_Release(gil);
    delete e;
}

// The capsule's destructor: a capsule no consumer renamed still owns its tensor.
template <class Managed>
void destroy_unconsumed(PyObject* capsule) {
    const char* name = std::is_same<Managed, DLManagedTensorVersioned>::value ? kVersionedName : kLegacyName;
    if (!PyCapsule_IsValid(capsule, name)) return;  // consumed ("used_..."): the consumer calls the deleter
    auto* m = static_cast<Managed*>(PyCapsule_GetPointer(capsule, name));
    if (m && m->deleter) m->deleter(m);
}

template <class Managed>
void fill_tensor(Exported<Managed>& e, char* data, int32_t device_type, int32_t device_id, uint8_t code,
                 uint8_t bits) {
    DLTensor& t = e.managed.dl_tensor;
    t.data = data;  // the first element itself: older consumers ignore byte_offset
    t.device = {device_type, device_id};
    t.ndim = static_cast<int32_t>(e.shape.size());
    t.dtype = {code, bits, 1};
    t.shape = e.shape.empty() ? nullptr : e.shape.data();
    t.strides = e.strides.empty() ? nullptr : e.strides.data();
    t.byte_offset = 0;
}

// A new capsule over ``data`` (the first element) with this layout; ``owner`` is kept alive until the consumer is
// done.  ``versioned`` picks the DLPack 1.x capsule (with ``minor`` and ``flags``) over the legacy one.  nullptr with
// a Python error set on failure.
inline PyObject* export_capsule(PyObject* owner, char* data, const std::vector<int64_t>& shape,
                                const std::vector<int64_t>& strides, uint8_t code, uint8_t bits, int32_t device_type,
                                int32_t device_id, bool versioned, uint32_t minor, uint64_t flags) {
    if (versioned) {
        auto* e = new (std::nothrow) Exported<DLManagedTensorVersioned>();
        if (!e) return PyErr_NoMemory();
        e->shape = shape;
        e->strides = strides;
        e->owner = owner;
        Py_INCREF(owner);
        e->managed.version = {kMajor, minor};
        e->managed.manager_ctx = e;
        e->managed.deleter = &delete_exported<DLManagedTensorVersioned>;
        e->managed.flags = flags;
        fill_tensor(*e, data, device_type, device_id, code, bits);
        PyObject* cap = PyCapsule_New(&e->managed, kVersionedName, &destroy_unconsumed<DLManagedTensorVersioned>);
        if (!cap) delete_exported(&e->managed);
        return cap;
    }
    auto* e = new (std::nothrow) Exported<DLManagedTensor>();
    if (!e) return PyErr_NoMemory();
    e->shape = shape;
    e->strides = strides;
    e->owner = owner;
    Py_INCREF(owner);
    e->managed.manager_ctx = e;
    e->managed.deleter = &delete_exported<DLManagedTensor>;
    fill_tensor(*e, data, device_type, device_id, code, bits);
    PyObject* cap = PyCapsule_New(&e->managed, kLegacyName, &destroy_unconsumed<DLManagedTensor>);
    if (!cap) delete_exported(&e->managed);
    return cap;
}

// -- import -------------------------------------------------------------------------------------------------------

// A producer's capsule, read but not yet consumed.
struct Parsed {
    void* managed = nullptr;  // DLManagedTensor* or DLManagedTensorVersioned*
    bool versioned = false;
    const DLTensor* tensor = nullptr;
    uint64_t flags = 0;  // 0 for legacy capsules (which cannot say read-only)
    DLPackVersion version{0, 0};
};

// Reads ``capsule``; false with a Python error set (BufferError, TypeError) when it is not a DLPack capsule we can
// read: consumed already, or of a major version after ours.  The capsule is left untouched either way.
inline bool parse_capsule(PyObject* capsule, Parsed& out) {
    if (!PyCapsule_CheckExact(capsule)) {
        PyErr_Format(PyExc_TypeError, "from_dlpack: __dlpack__() returned %s, not a DLPack capsule",
                     Py_TYPE(capsule)->tp_name);
        return false;
    }
    const char* name = PyCapsule_GetName(capsule);
    if (!name) return false;
    if (std::strcmp(name, kVersionedName) == 0) {
        auto* m = static_cast<DLManagedTensorVersioned*>(PyCapsule_GetPointer(capsule, kVersionedName));
        if (!m) return false;
        if (m->version.major != kMajor) {
            // the consumer must not read a struct of a major version it does not know (its layout may differ)
            PyErr_Format(PyExc_BufferError, "from_dlpack: the producer made a DLPack %u.%u capsule; tensorswitch "
                         "reads DLPack %u.x", m->version.major, m->version.minor, kMajor);
            return false;
        }
        out.managed = m;
        out.versioned = true;
        out.tensor = &m->dl_tensor;
        out.flags = m->flags;
        out.version = m->version;
        return true;
    }
    if (std::strcmp(name, kLegacyName) == 0) {
        auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(capsule, kLegacyName));
        if (!m) return false;
        out.managed = m;
        out.versioned = false;
        out.tensor = &m->dl_tensor;
        return true;
    }
    if (std::strncmp(name, "used_", 5) == 0)
        PyErr_SetString(PyExc_BufferError, "from_dlpack: this DLPack capsule was consumed already (a capsule can "
                                           "be imported once); ask the producer for a new one");
    else
        PyErr_Format(PyExc_TypeError, "from_dlpack: a capsule named '%s' is not a DLPack capsule", name);
    return false;
}

// Takes the tensor over from the capsule: its destructor no longer frees it, call_deleter does.
inline bool consume_capsule(PyObject* capsule, const Parsed& p) {
    return PyCapsule_SetName(capsule, p.versioned ? kUsedVersionedName : kUsedLegacyName) == 0;
}

inline void call_deleter(void* managed, bool versioned) {
    if (versioned) {
        auto* m = static_cast<DLManagedTensorVersioned*>(managed);
        if (m->deleter) m->deleter(m);
    } else {
        auto* m = static_cast<DLManagedTensor*>(managed);
        if (m->deleter) m->deleter(m);
    }
}

}  // namespace dlpack
}  // namespace ts
