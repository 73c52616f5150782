package org.rlhf4j.core.io;

import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableMap;
import java.util.List;
import java.util.Map;

/**
 * The validated header of a safetensors file.
 *
 * @param tensors the tensors in the order of their data in the file (ascending {@code begin}; empty
 *     tensors that share an offset keep their header order)
 * @param byName the same tensors by name
 * @param metadata the {@code __metadata__} map, empty if absent
 * @param dataStart the absolute file offset of the data section ({@code 8 + header length})
 * @param dataSize the size of the data section in bytes
 */
record SafetensorsHeader(
    List<TensorInfo> tensors,
    Map<String, TensorInfo> byName,
    Map<String, String> metadata,
    long dataStart,
    long dataSize) {

  SafetensorsHeader {
    tensors = ImmutableList.copyOf(tensors);
    byName = ImmutableMap.copyOf(byName);
    metadata = ImmutableMap.copyOf(metadata);
  }
}
