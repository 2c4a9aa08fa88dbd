# Tokenizer reference test (included from tests/reference/CMakeLists.txt): retain's tokenizer
# against ids generated with Hugging Face `tokenizers` (tests/fixtures/tokenizers/expected_*.json).
retain_add_gtest(test_tokenizer_reference LABEL reference LINK retain_tokenizer
  SOURCES test_tokenizer_reference.cpp FIXTURES npm_tokenizers)
