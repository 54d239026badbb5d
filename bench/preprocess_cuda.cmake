# The CUDA preprocessing benchmark (a program that prints a table, not a test): CUDA builds only.
if(FOVEA_CUDA)
  add_executable(preprocess_cuda_bench preprocess_cuda.cu preprocess_cuda_runner.cc)
  target_link_libraries(preprocess_cuda_bench PRIVATE fovea_vision CUDA::cudart_static)
endif()
