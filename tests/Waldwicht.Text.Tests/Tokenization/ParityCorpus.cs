using System.Text;

namespace Waldwicht.Text.Tests.Tokenization;

/// <summary>
/// Texts for the parity tests against the Hugging Face library: hand-picked cases for every script and edge case,
/// seeded random mixes of the same material, and a few long texts.
/// </summary>
internal static class ParityCorpus
{
    public static readonly string[] HandPicked =
    [
        // Empty, single characters, spaces.
        "", " ", "  ", "   ", "a", "A", "Hello world", " Hello", "Hello ", "Hello  world", "hello\tworld",
        "\n", "\n\n", "\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n",
        "\t", "\t\t\t", " \t \n \r\n ", "\r\n\r\n", "line one\nline two\n\nline four", "    indented four",
        new string(' ', 40), new string('\t', 35), " \u00A0 \u2003 \u3000 ",
        "\u2581", "\u2581\u2581", "a\u2581b", "\u2581Hello", " \u2581 ",

        // Latin with diacritics and other Latin-script languages.
        "Grüße aus Köln, schöne Äpfel!", "Ça va? Où est la bibliothèque?", "¿Qué tal, señor Muñoz?",
        "Zażółć gęślą jaźń", "Příliš žluťoučký kůň úpěl ďábelské ódy", "Þetta er íslenska með ð og þ",
        "Ångström och smörgåsbord", "Tiếng Việt có dấu: Hà Nội, Đà Nẵng", "Türkçe: ığüşöç İĞÜŞÖÇ",
        "Lorem ipsum dolor sit amet, consectetur adipiscing elit.",
        "e\u0301 (e plus combining acute) versus \u00E9", "\u0301", "\u0301\u0302\u0303", "a\u0308\u0304",

        // Other scripts.
        "Привет, мир! Как дела?", "Съешь же ещё этих мягких французских булок", "Καλημέρα κόσμε, τι κάνεις;",
        "مرحبا بالعالم", "السلام عليكم ورحمة الله", "שלום עולם", "עברית עם ניקוד: שָׁלוֹם",
        "नमस्ते दुनिया", "हिन्दी में लिखा गया वाक्य", "สวัสดีชาวโลก", "ภาษาไทยไม่มีช่องว่างระหว่างคำ",
        "你好，世界！", "我们今天去公园散步吧。", "日本語のテキスト、ひらがなとカタカナ", "東京都渋谷区",
        "안녕하세요 세계", "한국어 문장입니다.", "ქართული ენა", "Հայերեն լեզու", "தமிழ் மொழி", "বাংলা ভাষা",
        "ᚠᚢᚦᚨᚱᚲ", "𐌰𐌱𐌲 Gothic", "ꦧꦱꦗꦮ Javanese", "ᏣᎳᎩ Cherokee", "ⴰⵣⵓⵍ Tifinagh",
        "Mixed: English, Русский, 中文, العربية, हिन्दी, ไทย, 한국어",

        // Emoji, ZWJ sequences, flags, skin tones, variation selectors.
        "😀", "😀😃😄😁", "I ❤️ Unicode", "👨‍👩‍👧‍👦 family", "👩🏽‍💻 coder", "🏳️‍🌈", "🇩🇪🇺🇸🇯🇵", "🇩",
        "👍🏻👍🏼👍🏽👍🏾👍🏿", "✌︎ text style ✌️ emoji style", "🧑‍🤝‍🧑", "🫠🫡🫥", "Emoji in the middle😀of text",
        "#️⃣ 1️⃣ *️⃣", "🏴󠁧󠁢󠁳󠁣󠁴󠁿 Scotland",

        // Byte fallback: rare characters, replacement character, private use, noncharacters, controls.
        "\uFFFD", "a\uFFFDb", "\uE000\uE001\uF8FF", "\U000F0000\U0010FFFD", "\uFDD0\uFFFE\uFFFF",
        "\u0000", "\u0001\u0002\u0003", "\u001B[31mred\u001B[0m", "\u007F\u0080\u009F", "\u200B\u200C\u200D\u2060",
        "\uFEFFBOM at start", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕞𝕒𝕥𝕙", "𓀀𓀁𓀂 hieroglyphs", "𠀀𠀁𠀂 CJK extension B", "\U0001F9FF\U0001FAE8",
        "ꙮ", "﷽", "\u0E3F\u20BF\u20AC\u00A3\u00A5",

        // Control tokens inside text.
        "<bos>", "<eos>", "<pad>", "<unk>", "<mask>", "[multimodal]", "<bos>Hello", "Hello<eos>",
        "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n",
        "<bos><|turn>user\nHi<turn|>\n<|turn>model\n",
        "<|turn>system\n<|think|>You are helpful.<turn|>\n<|turn>user\nWhat is 2+2?<turn|>\n<|turn>model\n",
        "<|channel>thought\nLet me think.<channel|>The answer is 4.",
        "<|tool_call>call:get_weather{location:<|\"|>Paris<|\"|>}<tool_call|>",
        "<|tool>declaration:get_weather{description:<|\"|>Weather<|\"|>}<tool|>",
        "<|tool_response>response:get_weather{temperature:15}<tool_response|>",
        "<|turn", "turn|>", "<|tur n>", "<<|turn>>", "<|turn><|turn><turn|>", " <|turn> ", "x<|\"|>y",
        "<unused0><unused99><unused6241>", "<unused>", "<image_soft_token>", "<|image><|image|><image|><|audio><|video|>",
        "<start_of_image>", "<table><tr><td>cell</td></tr></table>", "<b>bold</b> <i>italic</i>", "<h1>Title</h1>",

        // Code.
        "def add(a, b):\n    return a + b\n",
        "public static int Add(int a, int b) => a + b;",
        "for (int i = 0; i < n; ++i) {\n\tsum += a[i] * b[i];\n}",
        "#include <stdio.h>\nint main(void) { printf(\"%d\\n\", 42); return 0; }",
        "SELECT id, name FROM users WHERE age >= 18 ORDER BY name;",
        "{\"key\": [1, 2.5, true, null], \"nested\": {\"a\": \"b\"}}",
        "<div class=\"x\">\n  <span>text</span>\n</div>",
        "fn main() { let v: Vec<u8> = vec![0xFF; 16]; println!(\"{:?}\", v); }",
        "$ ls -la | grep '^d' | awk '{print $9}'",
        "x = [i**2 for i in range(10) if i % 2 == 0]  # squares",
        "if (a && b || !c) { return; } else if (x != y) { throw new Error(\"bad\"); }",

        // URLs, numbers, punctuation.
        "https://example.com/path/to/page?query=1&lang=de#section",
        "mailto:someone@example.org", "ftp://user:pass@host:21/file.txt", "www.example.co.uk/a_b-c",
        "0", "42", "3.14159265358979", "1,234,567.89", "-0.0001", "1e-10", "2024-05-06T12:34:56Z", "+49 (0)30 1234567",
        "٠١٢٣٤٥٦٧٨٩ Arabic-Indic digits", "१२३ Devanagari digits", "½ ¾ ⅓ ² ³ ∞ ≠ ≤ ≥ ± × ÷",
        "...", "!!!???", "—–-", "«quoted» „German“ “English” ‘single’", "(a) [b] {c} <d>", "@#$%^&*_+=|\\/~`",
        "ALL CAPS SHOUTING", "camelCaseIdentifier", "snake_case_identifier", "kebab-case-identifier",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "abababababababababababababababababababababababab", "the the the the the the the the",
    ];

    private static readonly string[] Fragments =
    [
        "Hello", "world", "Grüße", "Köln", "naïve", "Привет", "мир", "Καλημέρα", "مرحبا", "שלום", "नमस्ते", "สวัสดี",
        "你好", "世界", "日本語", "안녕하세요", "😀", "👨‍👩‍👧‍👦", "🇩🇪", "👍🏽", "❤️", "\uFFFD", "\uE000", "\u0301", "𝔘", "𠀀",
        "<|turn>", "<turn|>", "<|channel>", "<channel|>", "<|\"|>", "<|tool_call>", "<tool_call|>", "<bos>", "<eos>",
        "<|think|>", "<start_of_turn>", "<table>", "</td>", "<unused5>",
        " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n ", "\u2581", "\u00A0",
        "def", "return", "();", "{}", "=>", "==", "https://", ".com", "/path", "?q=1", "12345", "3.14", "-", "_", "#",
        "The", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "tokenizer", "Gemma", "model", "thought",
    ];

    /// <summary>Random mixes of <see cref="Fragments"/> and random code points, the same on every run.</summary>
    public static IEnumerable<string> Generated(int count, int seed)
    {
        var random = new Random(seed);
        for (var i = 0; i < count; i++)
        {
            var builder = new StringBuilder();
            var parts = random.Next(1, 24);
            for (var p = 0; p < parts; p++)
            {
                if (random.Next(6) == 0)
                {
                    builder.Append(RandomCodePoint(random));
                }
                else
                {
                    builder.Append(Fragments[random.Next(Fragments.Length)]);
                }

                if (random.Next(3) == 0)
                {
                    builder.Append(' ');
                }
            }

            yield return builder.ToString();
        }
    }

    /// <summary>Long texts: no spaces at all (one BPE word), repeated words, and long runs of one script.</summary>
    public static IEnumerable<string> Long()
    {
        var random = new Random(7);
        yield return string.Concat(Enumerable.Repeat("supercalifragilisticexpialidocious", 300));
        yield return string.Concat(Enumerable.Repeat("The quick brown fox jumps over the lazy dog. ", 200));
        yield return new string('a', 5000);
        yield return string.Concat(Enumerable.Repeat("\u2581", 3000));
        yield return new string(Enumerable.Range(0, 4000).Select(_ => (char)random.Next(0x4E00, 0x9FFF)).ToArray());
        yield return string.Concat(Enumerable.Range(0, 2000).Select(_ => RandomCodePoint(random)));
        yield return string.Concat(Enumerable.Repeat("<|turn>user\nHallo Welt, wie geht's?<turn|>\n", 100));
        yield return string.Concat(Enumerable.Range(0, 3000).Select(i => (i * 7919 % 100000).ToString()));
    }

    private static string RandomCodePoint(Random random)
    {
        // Mostly from blocks that Gemma covers partly, so both merges and byte fallback occur.
        int value = random.Next(8) switch
        {
            0 => random.Next(0x20, 0x7F),
            1 => random.Next(0xA0, 0x2FF),
            2 => random.Next(0x370, 0x1000),
            3 => random.Next(0x3040, 0x9FFF),
            4 => random.Next(0xAC00, 0xD7A4),
            5 => random.Next(0x1F300, 0x1FAFF),
            6 => random.Next(0xE000, 0xF900),
            _ => random.Next(0x10000, 0x30000),
        };

        return char.ConvertFromUtf32(value);
    }
}
