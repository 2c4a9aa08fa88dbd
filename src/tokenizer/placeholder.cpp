// Replaced by the tokenizer implementation.
