/**
 * Training data: locating the shared data ({@link org.rlhf4j.core.data.SharedData}), reading JSON
 * records with precise errors ({@link org.rlhf4j.core.data.JsonFiles}, {@link
 * org.rlhf4j.core.data.JsonRecord}, {@link org.rlhf4j.core.data.DataFormatException}), rendering
 * conversations for a plain language model ({@link org.rlhf4j.core.data.ChatFormat}, {@link
 * org.rlhf4j.core.data.PlainChatFormat}) and supervised fine-tuning examples ({@link
 * org.rlhf4j.core.data.SftExample}) read by {@link org.rlhf4j.core.data.SftDatasets} (TRL's
 * prompt-completion, text and messages formats) and {@link org.rlhf4j.core.data.SelfInstruct}.
 */
package org.rlhf4j.core.data;
