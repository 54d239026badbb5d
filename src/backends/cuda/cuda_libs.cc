#include "backends/cuda/cuda_libs.h"

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cudnn.h>
#include <dlfcn.h>

#include <mutex>
#include <string>

#define FOVEA_STRINGIFY2(x) #x
#define FOVEA_STRINGIFY(x) FOVEA_STRINGIFY2(x)

#ifndef FOVEA_CUDA_LIBRARY_DIRS
#define FOVEA_CUDA_LIBRARY_DIRS ""
#endif

namespace fovea::cuda {

namespace {

struct Library {
    const char* soname;
    const char* what;
    void* handle = nullptr;
};

// The major versions this build was compiled against: another major version is another ABI.
Library cudnn{"libcudnn.so." FOVEA_STRINGIFY(CUDNN_MAJOR), "cuDNN " FOVEA_STRINGIFY(CUDNN_MAJOR)};
Library cublas{"libcublas.so." FOVEA_STRINGIFY(CUBLAS_VER_MAJOR), "cuBLAS " FOVEA_STRINGIFY(CUBLAS_VER_MAJOR)};
Library cublaslt{"libcublasLt.so." FOVEA_STRINGIFY(CUBLAS_VER_MAJOR), "cuBLASLt " FOVEA_STRINGIFY(CUBLAS_VER_MAJOR)};

Status open(Library& lib) {
    // RTLD_LOCAL: their symbols stay out of the global scope (the forwarders below have the same names).
    lib.handle = dlopen(lib.soname, RTLD_LAZY | RTLD_LOCAL);
    if (lib.handle) return Status::ok();
    const std::string first = dlerror();
    const std::string dirs = FOVEA_CUDA_LIBRARY_DIRS;
    for (size_t begin = 0; begin < dirs.size();) {
        size_t end = dirs.find(':', begin);
        if (end == std::string::npos) end = dirs.size();
        if (end > begin) {
            const std::string path = dirs.substr(begin, end - begin) + "/" + lib.soname;
            if ((lib.handle = dlopen(path.c_str(), RTLD_LAZY | RTLD_LOCAL))) return Status::ok();
        }
        begin = end + 1;
    }
    return unsupported(std::string("cannot load ") + lib.soname + " (" + lib.what +
                       ", which the cuda backend needs): " + first +
                       "; install it or put its directory on LD_LIBRARY_PATH");
}

Status& load_status() {
    static Status status;
    return status;
}

void* symbol(Library& lib, const char* name) {
    if (!load_cuda_libraries().is_ok()) return nullptr;
    return dlsym(lib.handle, name);
}

}  // namespace

Status load_cuda_libraries() {
    static std::once_flag once;
    std::call_once(once, [] {
        Status s = open(cudnn);
        if (s.is_ok()) s = open(cublas);
        // After cuBLAS, which needs it too: the soname then names the copy cuBLAS already loaded.
        if (s.is_ok()) s = open(cublaslt);
        load_status() = s;
    });
    return load_status();
}

}  // namespace fovea::cuda

// The forwarders: the exact C declarations of cudnn.h, cublas_api.h and cublasLt.h (the compiler rejects any other
// parameter list for a C function of that name), each resolving its target on first call.
#define FOVEA_FORWARD(lib, ret, fail, name, params, args)                                        \
    extern "C" ret name params {                                                                 \
        static const auto fn = reinterpret_cast<ret(*) params>(fovea::cuda::symbol(lib, #name)); \
        return fn ? fn args : fail;                                                              \
    }
#define FOVEA_CUDNN(name, params, args) \
    FOVEA_FORWARD(fovea::cuda::cudnn, cudnnStatus_t, CUDNN_STATUS_NOT_INITIALIZED, name, params, args)
#define FOVEA_CUBLAS(name, params, args) \
    FOVEA_FORWARD(fovea::cuda::cublas, cublasStatus_t, CUBLAS_STATUS_NOT_INITIALIZED, name, params, args)
#define FOVEA_CUBLASLT(name, params, args) \
    FOVEA_FORWARD(fovea::cuda::cublaslt, cublasStatus_t, CUBLAS_STATUS_NOT_INITIALIZED, name, params, args)

FOVEA_FORWARD(fovea::cuda::cudnn, size_t, 0, cudnnGetVersion, (void), ())
FOVEA_FORWARD(fovea::cuda::cudnn, const char*, "cuDNN is not loaded", cudnnGetErrorString, (cudnnStatus_t status),
              (status))
FOVEA_CUDNN(cudnnCreate, (cudnnHandle_t * handle), (handle))
// The graph API (conv_graph.cc).
FOVEA_CUDNN(cudnnBackendCreateDescriptor,
            (cudnnBackendDescriptorType_t descriptorType, cudnnBackendDescriptor_t* descriptor),
            (descriptorType, descriptor))
FOVEA_CUDNN(cudnnBackendDestroyDescriptor, (cudnnBackendDescriptor_t descriptor), (descriptor))
FOVEA_CUDNN(cudnnBackendFinalize, (cudnnBackendDescriptor_t descriptor), (descriptor))
FOVEA_CUDNN(cudnnBackendSetAttribute,
            (cudnnBackendDescriptor_t descriptor, cudnnBackendAttributeName_t attributeName,
             cudnnBackendAttributeType_t attributeType, int64_t elementCount, const void* arrayOfElements),
            (descriptor, attributeName, attributeType, elementCount, arrayOfElements))
FOVEA_CUDNN(cudnnBackendGetAttribute,
            (cudnnBackendDescriptor_t const descriptor, cudnnBackendAttributeName_t attributeName,
             cudnnBackendAttributeType_t attributeType, int64_t requestedElementCount, int64_t* elementCount,
             void* arrayOfElements),
            (descriptor, attributeName, attributeType, requestedElementCount, elementCount, arrayOfElements))
FOVEA_CUDNN(cudnnBackendExecute,
            (cudnnHandle_t handle, cudnnBackendDescriptor_t executionPlan, cudnnBackendDescriptor_t variantPack),
            (handle, executionPlan, variantPack))
FOVEA_CUDNN(cudnnDestroy, (cudnnHandle_t handle), (handle))
FOVEA_CUDNN(cudnnSetStream, (cudnnHandle_t handle, cudaStream_t stream), (handle, stream))
FOVEA_CUDNN(cudnnCreateTensorDescriptor, (cudnnTensorDescriptor_t * d), (d))
FOVEA_CUDNN(cudnnDestroyTensorDescriptor, (cudnnTensorDescriptor_t d), (d))
FOVEA_CUDNN(cudnnSetTensor4dDescriptor,
            (cudnnTensorDescriptor_t d, cudnnTensorFormat_t format, cudnnDataType_t type, int n, int c, int h, int w),
            (d, format, type, n, c, h, w))
FOVEA_CUDNN(cudnnCreateFilterDescriptor, (cudnnFilterDescriptor_t * d), (d))
FOVEA_CUDNN(cudnnDestroyFilterDescriptor, (cudnnFilterDescriptor_t d), (d))
FOVEA_CUDNN(cudnnSetFilter4dDescriptor,
            (cudnnFilterDescriptor_t d, cudnnDataType_t type, cudnnTensorFormat_t format, int k, int c, int h, int w),
            (d, type, format, k, c, h, w))
FOVEA_CUDNN(cudnnCreateConvolutionDescriptor, (cudnnConvolutionDescriptor_t * d), (d))
FOVEA_CUDNN(cudnnDestroyConvolutionDescriptor, (cudnnConvolutionDescriptor_t d), (d))
FOVEA_CUDNN(cudnnSetConvolution2dDescriptor,
            (cudnnConvolutionDescriptor_t d, int pad_h, int pad_w, int u, int v, int dilation_h, int dilation_w,
             cudnnConvolutionMode_t mode, cudnnDataType_t compute),
            (d, pad_h, pad_w, u, v, dilation_h, dilation_w, mode, compute))
FOVEA_CUDNN(cudnnSetConvolutionGroupCount, (cudnnConvolutionDescriptor_t d, int groups), (d, groups))
FOVEA_CUDNN(cudnnSetConvolutionMathType, (cudnnConvolutionDescriptor_t d, cudnnMathType_t math), (d, math))
FOVEA_CUDNN(cudnnGetConvolutionMathType, (cudnnConvolutionDescriptor_t d, cudnnMathType_t* math), (d, math))
FOVEA_CUDNN(cudnnGetConvolution2dForwardOutputDim,
            (const cudnnConvolutionDescriptor_t conv, const cudnnTensorDescriptor_t x, const cudnnFilterDescriptor_t w,
             int* n, int* c, int* h, int* wo),
            (conv, x, w, n, c, h, wo))
FOVEA_CUDNN(cudnnGetConvolutionForwardWorkspaceSize,
            (cudnnHandle_t handle, const cudnnTensorDescriptor_t x, const cudnnFilterDescriptor_t w,
             const cudnnConvolutionDescriptor_t conv, const cudnnTensorDescriptor_t y, cudnnConvolutionFwdAlgo_t algo,
             size_t* bytes),
            (handle, x, w, conv, y, algo, bytes))
FOVEA_CUDNN(cudnnFindConvolutionForwardAlgorithmEx,
            (cudnnHandle_t handle, const cudnnTensorDescriptor_t xd, const void* x, const cudnnFilterDescriptor_t wd,
             const void* w, const cudnnConvolutionDescriptor_t conv, const cudnnTensorDescriptor_t yd, void* y,
             const int requested, int* returned, cudnnConvolutionFwdAlgoPerf_t* perf, void* workspace,
             size_t workspace_bytes),
            (handle, xd, x, wd, w, conv, yd, y, requested, returned, perf, workspace, workspace_bytes))
FOVEA_CUDNN(cudnnConvolutionForward,
            (cudnnHandle_t handle, const void* alpha, const cudnnTensorDescriptor_t xd, const void* x,
             const cudnnFilterDescriptor_t wd, const void* w, const cudnnConvolutionDescriptor_t conv,
             cudnnConvolutionFwdAlgo_t algo, void* workspace, size_t workspace_bytes, const void* beta,
             const cudnnTensorDescriptor_t yd, void* y),
            (handle, alpha, xd, x, wd, w, conv, algo, workspace, workspace_bytes, beta, yd, y))
FOVEA_CUDNN(cudnnGetConvolutionBackwardDataWorkspaceSize,
            (cudnnHandle_t handle, const cudnnFilterDescriptor_t w, const cudnnTensorDescriptor_t dy,
             const cudnnConvolutionDescriptor_t conv, const cudnnTensorDescriptor_t dx,
             cudnnConvolutionBwdDataAlgo_t algo, size_t* bytes),
            (handle, w, dy, conv, dx, algo, bytes))
FOVEA_CUDNN(cudnnFindConvolutionBackwardDataAlgorithmEx,
            (cudnnHandle_t handle, const cudnnFilterDescriptor_t wd, const void* w, const cudnnTensorDescriptor_t dyd,
             const void* dy, const cudnnConvolutionDescriptor_t conv, const cudnnTensorDescriptor_t dxd, void* dx,
             const int requested, int* returned, cudnnConvolutionBwdDataAlgoPerf_t* perf, void* workspace,
             size_t workspace_bytes),
            (handle, wd, w, dyd, dy, conv, dxd, dx, requested, returned, perf, workspace, workspace_bytes))
FOVEA_CUDNN(cudnnConvolutionBackwardData,
            (cudnnHandle_t handle, const void* alpha, const cudnnFilterDescriptor_t wd, const void* w,
             const cudnnTensorDescriptor_t dyd, const void* dy, const cudnnConvolutionDescriptor_t conv,
             cudnnConvolutionBwdDataAlgo_t algo, void* workspace, size_t workspace_bytes, const void* beta,
             const cudnnTensorDescriptor_t dxd, void* dx),
            (handle, alpha, wd, w, dyd, dy, conv, algo, workspace, workspace_bytes, beta, dxd, dx))
FOVEA_CUDNN(cudnnCreateActivationDescriptor, (cudnnActivationDescriptor_t * d), (d))
FOVEA_CUDNN(cudnnDestroyActivationDescriptor, (cudnnActivationDescriptor_t d), (d))
FOVEA_CUDNN(cudnnSetActivationDescriptor,
            (cudnnActivationDescriptor_t d, cudnnActivationMode_t mode, cudnnNanPropagation_t nan, double coef),
            (d, mode, nan, coef))
FOVEA_CUDNN(cudnnConvolutionBiasActivationForward,
            (cudnnHandle_t handle, const void* alpha1, const cudnnTensorDescriptor_t xd, const void* x,
             const cudnnFilterDescriptor_t wd, const void* w, const cudnnConvolutionDescriptor_t conv,
             cudnnConvolutionFwdAlgo_t algo, void* workspace, size_t workspace_bytes, const void* alpha2,
             const cudnnTensorDescriptor_t zd, const void* z, const cudnnTensorDescriptor_t bias_d, const void* bias,
             const cudnnActivationDescriptor_t act, const cudnnTensorDescriptor_t yd, void* y),
            (handle, alpha1, xd, x, wd, w, conv, algo, workspace, workspace_bytes, alpha2, zd, z, bias_d, bias, act, yd,
             y))

FOVEA_CUBLAS(cublasCreate_v2, (cublasHandle_t * handle), (handle))
FOVEA_CUBLAS(cublasDestroy_v2, (cublasHandle_t handle), (handle))
FOVEA_CUBLAS(cublasGetVersion_v2, (cublasHandle_t handle, int* version), (handle, version))
FOVEA_CUBLAS(cublasSetStream_v2, (cublasHandle_t handle, cudaStream_t stream), (handle, stream))
FOVEA_CUBLAS(cublasSetWorkspace_v2, (cublasHandle_t handle, void* workspace, size_t bytes), (handle, workspace, bytes))
FOVEA_CUBLAS(cublasGemmEx,
             (cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k,
              const void* alpha, const void* a, cudaDataType a_type, int lda, const void* b, cudaDataType b_type,
              int ldb, const void* beta, void* c, cudaDataType c_type, int ldc, cublasComputeType_t compute,
              cublasGemmAlgo_t algo),
             (handle, transa, transb, m, n, k, alpha, a, a_type, lda, b, b_type, ldb, beta, c, c_type, ldc, compute,
              algo))
FOVEA_CUBLAS(cublasGemmStridedBatchedEx,
             (cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k,
              const void* alpha, const void* a, cudaDataType a_type, int lda, long long int stride_a, const void* b,
              cudaDataType b_type, int ldb, long long int stride_b, const void* beta, void* c, cudaDataType c_type,
              int ldc, long long int stride_c, int batch_count, cublasComputeType_t compute, cublasGemmAlgo_t algo),
             (handle, transa, transb, m, n, k, alpha, a, a_type, lda, stride_a, b, b_type, ldb, stride_b, beta, c,
              c_type, ldc, stride_c, batch_count, compute, algo))

// cuBLASLt (the matrix products of ops_conv.cc).
FOVEA_CUBLASLT(cublasLtCreate, (cublasLtHandle_t * lightHandle), (lightHandle))
FOVEA_CUBLASLT(cublasLtDestroy, (cublasLtHandle_t lightHandle), (lightHandle))
FOVEA_CUBLASLT(cublasLtMatmulDescCreate,
               (cublasLtMatmulDesc_t * matmulDesc, cublasComputeType_t computeType, cudaDataType_t scaleType),
               (matmulDesc, computeType, scaleType))
FOVEA_CUBLASLT(cublasLtMatmulDescDestroy, (cublasLtMatmulDesc_t matmulDesc), (matmulDesc))
FOVEA_CUBLASLT(cublasLtMatmulDescSetAttribute,
               (cublasLtMatmulDesc_t matmulDesc, cublasLtMatmulDescAttributes_t attr, const void* buf,
                size_t sizeInBytes),
               (matmulDesc, attr, buf, sizeInBytes))
FOVEA_CUBLASLT(cublasLtMatrixLayoutCreate,
               (cublasLtMatrixLayout_t * matLayout, cudaDataType type, uint64_t rows, uint64_t cols, int64_t ld),
               (matLayout, type, rows, cols, ld))
FOVEA_CUBLASLT(cublasLtMatrixLayoutDestroy, (cublasLtMatrixLayout_t matLayout), (matLayout))
FOVEA_CUBLASLT(cublasLtMatrixLayoutSetAttribute,
               (cublasLtMatrixLayout_t matLayout, cublasLtMatrixLayoutAttribute_t attr, const void* buf,
                size_t sizeInBytes),
               (matLayout, attr, buf, sizeInBytes))
FOVEA_CUBLASLT(cublasLtMatmulPreferenceCreate, (cublasLtMatmulPreference_t * pref), (pref))
FOVEA_CUBLASLT(cublasLtMatmulPreferenceDestroy, (cublasLtMatmulPreference_t pref), (pref))
FOVEA_CUBLASLT(cublasLtMatmulPreferenceSetAttribute,
               (cublasLtMatmulPreference_t pref, cublasLtMatmulPreferenceAttributes_t attr, const void* buf,
                size_t sizeInBytes),
               (pref, attr, buf, sizeInBytes))
FOVEA_CUBLASLT(cublasLtMatmulAlgoGetHeuristic,
               (cublasLtHandle_t lightHandle, cublasLtMatmulDesc_t operationDesc, cublasLtMatrixLayout_t Adesc,
                cublasLtMatrixLayout_t Bdesc, cublasLtMatrixLayout_t Cdesc, cublasLtMatrixLayout_t Ddesc,
                cublasLtMatmulPreference_t preference, int requestedAlgoCount,
                cublasLtMatmulHeuristicResult_t heuristicResultsArray[], int* returnAlgoCount),
               (lightHandle, operationDesc, Adesc, Bdesc, Cdesc, Ddesc, preference, requestedAlgoCount,
                heuristicResultsArray, returnAlgoCount))
FOVEA_CUBLASLT(cublasLtMatmul,
               (cublasLtHandle_t lightHandle, cublasLtMatmulDesc_t computeDesc, const void* alpha, const void* A,
                cublasLtMatrixLayout_t Adesc, const void* B, cublasLtMatrixLayout_t Bdesc, const void* beta,
                const void* C, cublasLtMatrixLayout_t Cdesc, void* D, cublasLtMatrixLayout_t Ddesc,
                const cublasLtMatmulAlgo_t* algo, void* workspace, size_t workspaceSizeInBytes, cudaStream_t stream),
               (lightHandle, computeDesc, alpha, A, Adesc, B, Bdesc, beta, C, Cdesc, D, Ddesc, algo, workspace,
                workspaceSizeInBytes, stream))
