/**
 * GPT-2 as a {@link org.rlhf4j.core.model.CausalLm}: {@link org.rlhf4j.core.model.gpt2.GptModel}
 * with hand-written forward and backward passes, its shape {@link
 * org.rlhf4j.core.model.gpt2.GptConfig} (whose {@link
 * org.rlhf4j.core.model.gpt2.GptConfig#parameterTable()} is the one list of GPT-2's tensor names,
 * shapes, initialisation and weight decay) and its memory estimates {@link
 * org.rlhf4j.core.model.gpt2.GptMemory}. The transformer block is written once ({@code
 * ShardMath.block}) and used by the full pass and by the cached decode step, which differ only in
 * where attention finds its keys and values.
 */
package org.rlhf4j.core.model.gpt2;
