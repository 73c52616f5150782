package org.rlhf4j.core.data;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkNotNull;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.common.collect.ImmutableMap;
import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.el.JinjavaInterpreterResolver;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.filter.Filter;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import jinjava.javax.el.CompositeELResolver;
import org.rlhf4j.core.RlhfException;
import org.rlhf4j.core.tokenizer.HfTokenizer;
import org.rlhf4j.core.tokenizer.Tokenizer;

/**
 * A model's own chat template: the Jinja {@code chat_template} of a Hugging Face model ({@code
 * chat_template.jinja}, or the {@code chat_template} field of {@code tokenizer_config.json}),
 * rendered as {@code transformers}' {@code apply_chat_template} renders it, with HubSpot's
 * <a href="https://github.com/HubSpot/jinjava">Jinjava</a>.
 *
 * <p>The template sees {@code messages} (a list of {@code {"role", "content"}} maps), {@code
 * add_generation_prompt}, {@code bos_token} and {@code eos_token} (from {@code
 * tokenizer_config.json}, strings or AddedToken objects), any extra variables given to {@link
 * #render(List, boolean, Map)}, and the function {@code raise_exception(message)}, which makes
 * rendering fail with a {@link ChatTemplateException} carrying the message. Like {@code
 * transformers}, it renders with {@code trim_blocks} and {@code lstrip_blocks}. Python's string
 * methods that templates use ({@code strip}, {@code lstrip}, {@code rstrip}, {@code startswith},
 * {@code endswith}, {@code split}, {@code upper}, {@code lower}, {@code title}, {@code replace},
 * {@code join}) and dict methods ({@code items}, {@code keys}, {@code values}, {@code get}) are
 * provided on top of Jinjava; {@code tojson} writes Python's {@code json.dumps} format.
 * Unsupported Jinja features fail with a ChatTemplateException naming the template and the error.
 * Known differences from Python's Jinja (none affects the fixture templates): a boolean prints as
 * {@code true}/{@code false} rather than {@code True}/{@code False}, and {@code not a == b} parses
 * as {@code (not a) == b}, so write {@code not (a == b)}. Message text is never re-rendered (a
 * message containing <code>{{</code> stays text).
 *
 * <p>As a {@link ChatFormat}: {@link #render(List)} renders without a generation prompt and
 * {@link #generationPrompt} with one. A model template usually closes an assistant turn with an
 * end-of-turn marker (ChatML's {@code <|im_end|>\n}), so {@code render(context + [m])} is {@code
 * generationPrompt(context) + m.content()} followed by that marker rather than equal to it; {@link
 * #toSftExample} therefore takes the completion as everything the full rendering adds after the
 * generation prompt (the content and the marker), as TRL does. The rendered text contains special
 * tokens (e.g. {@code <|im_start|>}, sometimes the BOS token): encode it with a tokenizer that
 * maps special-token text to ids, such as {@link HfTokenizer#encode(String)} ({@link #encode}
 * does), and do not add another BOS if the template writes one.
 *
 * <p>Immutable and thread-safe.
 */
public final class ChatTemplate implements ChatFormat {
  private static final ObjectMapper JSON = new ObjectMapper();

  private final String template;
  private final String source;
  private final String bosToken;
  private final String eosToken;
  private final Jinjava jinjava;

  /** Thrown when a template calls {@code raise_exception} or cannot be rendered. */
  public static final class ChatTemplateException extends RlhfException {
    private static final long serialVersionUID = 1L;

    /** An error with {@code message}. */
    public ChatTemplateException(String message) {
      super(message);
    }
  }

  /** What {@code raise_exception} throws inside Jinjava; turned into a ChatTemplateException. */
  static final class Raised extends RuntimeException {
    private static final long serialVersionUID = 1L;

    Raised(String message) {
      super(message);
    }
  }

  private ChatTemplate(Builder b) {
    this.template = b.template;
    this.source = b.source;
    this.bosToken = b.bosToken;
    this.eosToken = b.eosToken;
    CompositeELResolver resolver = new CompositeELResolver();
    resolver.add(new PythonMethods());
    resolver.add(JinjavaInterpreterResolver.DEFAULT_RESOLVER_READ_WRITE);
    JinjavaConfig config =
        JinjavaConfig.newBuilder()
            .withTrimBlocks(true)
            .withLstripBlocks(true)
            .withElResolver(resolver)
            // never re-render the output of an expression (a message containing "{{" is text)
            .withNestedInterpretationEnabled(false)
            // Jinja2's semantics where Jinjava's legacy ones differ: Python-style output of
            // True/None/lists, operator precedence, whitespace control, trailing newline, ...
            .withLegacyOverrides(
                LegacyOverrides.newBuilder()
                    .withEvaluateMapKeys(true)
                    .withIterateOverMapKeys(true)
                    .withUsePyishObjectMapper(true)
                    .withUseNaturalOperatorPrecedence(true)
                    .withParseWhitespaceControlStrictly(true)
                    .withAllowAdjacentTextNodes(true)
                    .withUseTrimmingForNotesAndExpressions(true)
                    .withKeepNullableLoopValues(true)
                    .withHandleBackslashInQuotesOnly(true)
                    .withDefaultKeepTrailingNewlineBehavior(true)
                    // Jinja accepts "{{'x'}}" without spaces inside the braces
                    .withWhitespaceRequiredWithinTokens(false)
                    .build())
            .build();
    this.jinjava = new Jinjava(config);
    jinjava
        .getGlobalContext()
        .registerFunction(
            new ELFunctionDefinition(
                "", "raise_exception", ChatTemplate.class, "raiseException", Object.class));
    jinjava.getGlobalContext().registerFilter(new TojsonFilter());
  }

  /** {@code raise_exception(message)} for templates; not for direct use. */
  public static String raiseException(Object message) {
    throw new Raised(String.valueOf(message));
  }

  /** A builder for a template given as text. */
  public static Builder builder() {
    return new Builder();
  }

  /** Builds a {@link ChatTemplate}. */
  public static final class Builder {
    private String template;
    private String source = "<chat template>";
    private String bosToken = "";
    private String eosToken = "";

    private Builder() {}

    /** The Jinja source (required). */
    public Builder template(String template) {
      this.template = checkNotNull(template, "template");
      return this;
    }

    /** A name for error messages, e.g. the file it came from. */
    public Builder source(String source) {
      this.source = checkNotNull(source, "source");
      return this;
    }

    /** The text of {@code bos_token} (default empty). */
    public Builder bosToken(String bosToken) {
      this.bosToken = checkNotNull(bosToken, "bosToken");
      return this;
    }

    /** The text of {@code eos_token} (default empty). */
    public Builder eosToken(String eosToken) {
      this.eosToken = checkNotNull(eosToken, "eosToken");
      return this;
    }

    /**
     * The template.
     *
     * @throws IllegalStateException if no template was given
     */
    public ChatTemplate build() {
      if (template == null) {
        throw new IllegalStateException("no template given");
      }
      return new ChatTemplate(this);
    }
  }

  /**
   * The chat template of a model directory: {@code chat_template.jinja} if present, else the
   * {@code chat_template} field of {@code tokenizer_config.json} (a string, or a list of {@code
   * {"name", "template"}} of which the one named {@code default} is used); {@code bos_token} and
   * {@code eos_token} come from {@code tokenizer_config.json}.
   *
   * @throws RlhfException if the directory has no chat template, or (as DataFormatException) a
   *     file is malformed
   */
  public static ChatTemplate fromDirectory(Path dir) {
    checkNotNull(dir, "dir");
    Path configFile = dir.resolve("tokenizer_config.json");
    JsonNode config = JSON.createObjectNode();
    if (Files.isRegularFile(configFile)) {
      config = readJson(configFile);
    }
    Builder b = builder();
    Path jinja = dir.resolve("chat_template.jinja");
    if (Files.isRegularFile(jinja)) {
      try {
        b.template(Files.readString(jinja, StandardCharsets.UTF_8)).source(jinja.toString());
      } catch (IOException e) {
        throw new RlhfException("cannot read " + jinja + ": " + e, e);
      }
    } else {
      JsonNode t = config.path("chat_template");
      String src = configFile.toString();
      if (t.isTextual()) {
        b.template(t.textValue());
      } else if (t.isArray()) {
        for (JsonNode named : t) {
          if ("default".equals(named.path("name").asText()) && named.path("template").isTextual()) {
            b.template(named.get("template").textValue());
          }
        }
        if (b.template == null) {
          throw new DataFormatException(
              src, 1, "field \"chat_template\": a list without a template named \"default\"");
        }
      } else {
        throw new RlhfException(
            "no chat template in "
                + dir
                + ": expected chat_template.jinja or a \"chat_template\" field in"
                + " tokenizer_config.json");
      }
      b.source(src + " (chat_template)");
    }
    b.bosToken(Optional.ofNullable(tokenText(config.path("bos_token"))).orElse(""));
    b.eosToken(Optional.ofNullable(tokenText(config.path("eos_token"))).orElse(""));
    return b.build();
  }

  private static String tokenText(JsonNode n) {
    if (n.isTextual()) {
      return n.textValue();
    }
    if (n.isObject() && n.path("content").isTextual()) {
      return n.get("content").textValue();
    }
    return null;
  }

  private static JsonNode readJson(Path file) {
    try {
      JsonNode n = JSON.readTree(file.toFile());
      if (n == null || !n.isObject()) {
        throw new DataFormatException(file.toString(), 1, "expected a JSON object");
      }
      return n;
    } catch (JsonProcessingException e) {
      throw new DataFormatException(
          file.toString(),
          e.getLocation() == null ? 1 : e.getLocation().getLineNr(),
          "invalid JSON: " + e.getOriginalMessage());
    } catch (IOException e) {
      throw new RlhfException("cannot read " + file + ": " + e, e);
    }
  }

  /** The Jinja source. */
  public String template() {
    return template;
  }

  /** The text of {@code bos_token} given to the template. */
  public String bosToken() {
    return bosToken;
  }

  /** The text of {@code eos_token} given to the template. */
  public String eosToken() {
    return eosToken;
  }

  /** {@code apply_chat_template(messages, tokenize=False, add_generation_prompt=False)}. */
  @Override
  public String render(List<ChatMessage> messages) {
    return render(messages, false);
  }

  /** {@code apply_chat_template(context, tokenize=False, add_generation_prompt=True)}. */
  @Override
  public String generationPrompt(List<ChatMessage> context) {
    return render(context, true);
  }

  /** {@code apply_chat_template(messages, tokenize=False, add_generation_prompt=...)}. */
  public String render(List<ChatMessage> messages, boolean addGenerationPrompt) {
    return render(messages, addGenerationPrompt, ImmutableMap.of());
  }

  /**
   * Renders {@code messages} with {@code extra} variables (e.g. {@code tools}, {@code documents}),
   * which may not override {@code messages}, {@code add_generation_prompt}, {@code bos_token} or
   * {@code eos_token}.
   *
   * @throws ChatTemplateException if the template calls {@code raise_exception} or fails
   */
  public String render(
      List<ChatMessage> messages, boolean addGenerationPrompt, Map<String, ?> extra) {
    checkNotNull(messages, "messages");
    checkNotNull(extra, "extra");
    List<Map<String, Object>> list = new ArrayList<>(messages.size());
    for (ChatMessage m : messages) {
      Map<String, Object> map = new LinkedHashMap<>();
      map.put("role", m.role());
      map.put("content", m.content());
      list.add(map);
    }
    Map<String, Object> bindings = new HashMap<>(extra);
    for (String reserved :
        new String[] {"messages", "add_generation_prompt", "bos_token", "eos_token"}) {
      checkArgument(!extra.containsKey(reserved), "extra variable %s is reserved", reserved);
    }
    bindings.put("messages", list);
    bindings.put("add_generation_prompt", addGenerationPrompt);
    bindings.put("bos_token", bosToken);
    bindings.put("eos_token", eosToken);
    RenderResult result = jinjava.renderForResult(template, bindings);
    for (TemplateError e : result.getErrors()) {
      for (Throwable t = e.getException(); t != null; t = t.getCause()) {
        if (t instanceof Raised) {
          throw new ChatTemplateException(
              "chat template " + source + " raised an exception: " + t.getMessage());
        }
      }
    }
    for (TemplateError e : result.getErrors()) {
      if (e.getSeverity() == TemplateError.ErrorType.FATAL) {
        throw new ChatTemplateException(
            "chat template "
                + source
                + " cannot be rendered: "
                + e.getMessage()
                + " (template line "
                + e.getLineno()
                + ")");
      }
    }
    return result.getOutput();
  }

  /**
   * {@inheritDoc} The prompt is the rendering of the messages before the last with the generation
   * prompt; the completion is what the rendering of the whole conversation adds after it (the
   * reply and the template's end-of-turn marker).
   *
   * @throws IllegalArgumentException also if the template does not render the conversation as the
   *     generation prompt followed by more text
   */
  @Override
  public SftExample toSftExample(List<ChatMessage> conversation) {
    SftExample plain = ChatFormat.super.toSftExample(conversation); // validates
    String prompt = plain.prompt();
    String full = render(conversation, false);
    checkArgument(
        full.startsWith(prompt) && full.length() > prompt.length(),
        "chat template %s: the conversation's rendering does not start with the generation prompt"
            + " of its first %s messages, so it cannot be split into prompt and completion",
        source,
        conversation.size() - 1);
    return new SftExample(prompt, full.substring(prompt.length()));
  }

  /**
   * {@code apply_chat_template(messages, tokenize=True, add_generation_prompt=...)}: the rendered
   * text encoded with {@code tokenizer.encode} (special-token text becomes special ids with an
   * {@link HfTokenizer}; no further special tokens are added).
   */
  public int[] encode(
      Tokenizer tokenizer, List<ChatMessage> messages, boolean addGenerationPrompt) {
    checkNotNull(tokenizer, "tokenizer");
    return tokenizer.encode(render(messages, addGenerationPrompt));
  }

  @Override
  public String toString() {
    return "ChatTemplate(" + source + ")";
  }

  /**
   * {@code json.dumps(value, ensure_ascii=False, indent=indent)} as Python writes it (transformers'
   * {@code tojson}): separators {@code ", "} and {@code ": "} (or {@code ","} and newlines with an
   * indent), keys in map order.
   */
  static String pythonJson(Object value, int indent) {
    StringBuilder b = new StringBuilder();
    writeJson(value, indent, 0, b);
    return b.toString();
  }

  private static void writeJson(Object v, int indent, int depth, StringBuilder b) {
    if (v == null) {
      b.append("null");
    } else if (v instanceof Boolean) {
      b.append(((Boolean) v) ? "true" : "false");
    } else if (v instanceof Number) {
      b.append(v);
    } else if (v instanceof Map) {
      Map<?, ?> m = (Map<?, ?>) v;
      if (m.isEmpty()) {
        b.append("{}");
        return;
      }
      b.append('{');
      boolean first = true;
      for (Map.Entry<?, ?> e : m.entrySet()) {
        b.append(first ? "" : indent > 0 ? "," : ", ");
        newline(indent, depth + 1, b);
        writeString(String.valueOf(e.getKey()), b);
        b.append(": ");
        writeJson(e.getValue(), indent, depth + 1, b);
        first = false;
      }
      newline(indent, depth, b);
      b.append('}');
    } else if (v instanceof Iterable || v instanceof Object[]) {
      Iterable<?> it = v instanceof Object[] ? Arrays.asList((Object[]) v) : (Iterable<?>) v;
      if (!it.iterator().hasNext()) {
        b.append("[]");
        return;
      }
      b.append('[');
      boolean first = true;
      for (Object o : it) {
        b.append(first ? "" : indent > 0 ? "," : ", ");
        newline(indent, depth + 1, b);
        writeJson(o, indent, depth + 1, b);
        first = false;
      }
      newline(indent, depth, b);
      b.append(']');
    } else {
      writeString(String.valueOf(v), b);
    }
  }

  private static void newline(int indent, int depth, StringBuilder b) {
    if (indent > 0) {
      b.append('\n').append(" ".repeat(indent * depth));
    }
  }

  private static void writeString(String s, StringBuilder b) {
    b.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"':
          b.append("\\\"");
          break;
        case '\\':
          b.append("\\\\");
          break;
        case '\n':
          b.append("\\n");
          break;
        case '\r':
          b.append("\\r");
          break;
        case '\t':
          b.append("\\t");
          break;
        case '\b':
          b.append("\\b");
          break;
        case '\f':
          b.append("\\f");
          break;
        default:
          if (c < 0x20) {
            b.append(String.format("\\u%04x", (int) c));
          } else {
            b.append(c);
          }
      }
    }
    b.append('"');
  }

  /** {@code tojson} with Python's separators ({@code ", "}, {@code ": "}) and key order. */
  private static final class TojsonFilter implements Filter {
    @Override
    public String getName() {
      return "tojson";
    }

    @Override
    public Object filter(
        Object var, JinjavaInterpreter interpreter, String... args) {
      int indent = 0;
      if (args.length > 0 && args[0] != null) {
        try {
          indent = Integer.parseInt(args[0].trim());
        } catch (NumberFormatException e) {
          indent = 0;
        }
      }
      return pythonJson(var, indent);
    }
  }
}
