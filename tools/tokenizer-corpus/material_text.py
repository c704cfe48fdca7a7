"""Hand-written source material for the tokenizer corpus: prose and text in many scripts.

Written for tokenmill's tokenizer tests (not copied from any corpus). build-corpus.py combines
these pieces deterministically into the committed corpus.jsonl.
"""

PROSE = [
    "The committee met on Tuesday to review the budget, but the discussion quickly turned to the new parking rules.",
    "She hadn't expected the train to be late again; it was the third time this week.",
    "\"We're not going to make it,\" he said, glancing at the clock. \"Not unless the traffic clears.\"",
    "In 1969, three astronauts flew to the Moon aboard Apollo 11 — a journey of roughly 384,400 kilometres.",
    "Most modern language models split text into sub-word units before doing anything else with it.",
    "If you can't find the receipt, check the drawer by the front door; I'm fairly sure I left it there.",
    "The recipe calls for two cups of flour, a pinch of salt, and 250 ml of warm (not hot!) milk.",
    "Dr. Okafor's lab published its results in the spring, after eighteen months of careful measurement.",
    "Wait — did you say the meeting was moved to 3:30 p.m., or was that last week's?",
    "It's a truth rarely acknowledged that every spreadsheet eventually becomes a database.",
    "The old lighthouse keeper kept a logbook: wind, weather, ships sighted, and the occasional whale.",
    "According to the report, sales rose 12.5% year over year, driven mainly by online orders.",
    "You'll need a passport, two photos, and the completed form DS-11; the fee is $130.",
    "They'd've finished by now if the printer hadn't jammed twice.",
    "Hello there! How are you doing today? I hope everything's going well on your end.",
    "The river, swollen by a week of rain, had spilled over its banks and into the lower fields.",
    "Please find attached the minutes from yesterday's call. Let me know if I missed anything.",
    "Q: What's the capital of Australia?\nA: Canberra, not Sydney, as many people assume.",
    "Our servers handle about 40,000 requests per second at peak, with a p99 latency under 80 ms.",
    "I've read the book twice and I still don't understand why the ending works so well.",
    "The museum is open daily from 9 a.m. to 5 p.m., except on public holidays.",
    "Step 1: Preheat the oven.\nStep 2: Grease the tin.\nStep 3: Wait patiently.",
    "He whispered, \"Don't look now, but someone's following us.\"",
    "A quick brown fox jumps over the lazy dog; the dog, unimpressed, goes back to sleep.",
    "The term 'tokenization' covers several distinct steps: normalization, pre-tokenization, and the model itself.",
    "Ms. Lindqvist will be out of the office until 14 March and will reply on her return.",
    "There are only two hard things in computer science: cache invalidation, naming things, and off-by-one errors.",
    "WARNING: Do NOT remove the cover while the unit is powered ON.",
    "Thanks so much!!! This is exactly what I needed :)",
    "The meeting ran long... again. Nobody was surprised.",
    "Temperatures will range from -5°C overnight to a high of 12°C on Saturday afternoon.",
    "The cat sat on the mat. The mat, however, did not belong to the cat.",
    "Chapter 7\n\nThe morning came grey and cold, and the house was silent.",
    "# Release notes\n\n- Fixed a crash when the cache was empty\n- Improved startup time by ~30%\n",
    "**Important:** back up your data *before* upgrading. See [the guide](https://example.org/upgrade) for details.",
    "Dear Sir or Madam,\n\nI am writing to enquire about the position advertised on your website.\n\nYours faithfully,\nJ. Smith",
    "The quarterly figures (see Table 3) show a modest improvement over Q2.",
    "Why does the sky look blue? Short answer: Rayleigh scattering. Long answer: it's complicated.",
    "\"Is it far?\" \"Not very — maybe twenty minutes on foot.\" \"Then let's walk.\"",
    "The patch was merged on 2023-11-04 and shipped in version 4.2.1 a week later.",
    "Some people prefer tabs; others prefer spaces. Both camps are, of course, convinced they're right.",
    "If x > 3 and y < 7, then the point lies inside the shaded region.",
    "She typed the password — correct-horse-battery-staple — and pressed Enter.",
    "The U.S.A., the U.K., and the E.U. signed the agreement in Geneva.",
    "It costs €45, or about £39; shipping isn't included.",
    "I'll be there at 7-ish. Don't wait for me if I'm late!",
    "The results were, frankly, underwhelming: 3 out of 10 trials succeeded.",
    "On second thought, let's not go to the beach. It's too windy.",
    "Rock'n'roll, e-mail, O'Brien, and well-known are all awkward for naive word splitters.",
    "   Indented text often appears in quoted emails and poetry.",
]

EN_WORDS = (
    "the of and to in is was he for it with as his on be at by had are but from or have an they "
    "which one you were all her she there would their we him been has when who will no more if out "
    "so up said what its about than into them can only other time new some could these two may "
    "first then do any like my now over such our man me even most made after also did many off "
    "before must well back through years much where your way down should because long each just "
    "people state being world however model inference batch kernel latency throughput server request "
    "stream cache prefix scheduler sampler embedding attention layer garden window river mountain "
    "morning evening coffee library museum station market weather letter answer question reason"
).split()

CJK = [
    # Chinese (simplified and traditional)
    "今天天气很好，我们一起去公园散步吧。",
    "这个模型在处理长文本时速度明显变慢了。",
    "请在下午三点之前把报告发给我，谢谢！",
    "我想在apple工作1314151天～",
    "北京是中国的首都，有三千多年的历史。",
    "他说：“明天见！”然后就走了。",
    "人工智能正在改变我们的生活方式和工作方式。",
    "這家餐廳的牛肉麵非常好吃，價格也很合理。",
    "機器學習需要大量的數據和計算資源。",
    "《红楼梦》是中国古典小说的巅峰之作。",
    "一二三四五六七八九十，百千万亿。",
    "价格：￥128.00（含税）",
    # Japanese
    "日本語のテキストを正しく分割するのは難しいです。",
    "東京駅から新幹線で大阪まで約二時間半かかります。",
    "ありがとうございます！また明日お会いしましょう。",
    "このプログラムはPython 3.11で動作確認済みです。",
    "ｶﾀｶﾅの半角文字も混ざることがあります。",
    "吾輩は猫である。名前はまだ無い。",
    "コンピューターのメモリが足りません。再起動してください。",
    "「すみません、駅はどこですか？」と彼は尋ねた。",
    "令和5年4月1日から新しい制度が始まります。",
    # Korean
    "한국어 텍스트입니다.",
    "오늘 저녁에 같이 밥 먹을래요?",
    "서울은 대한민국의 수도이며 인구가 약 천만 명입니다.",
    "이 프로그램은 리눅스와 윈도우에서 모두 실행됩니다.",
    "감사합니다! 좋은 하루 보내세요.",
    "인공지능 모델의 추론 속도를 측정했습니다.",
    "ᄒᆞᆫ글 옛한글 자모도 가끔 보입니다.",
]

SCRIPTS = {
    "arabic": [
        "العربية نص",
        "مرحبا بكم في موقعنا الإلكتروني.",
        "اللغة العربية من أكثر اللغات انتشارا في العالم.",
        "هل يمكنك مساعدتي في ترجمة هذه الجملة؟",
        "سيبدأ الاجتماع في الساعة ٣:٣٠ مساءً يوم الأحد.",
        "بِسْمِ اللَّهِ الرَّحْمَٰنِ الرَّحِيمِ",
        "الذكاء الاصطناعي يغير طريقة عملنا.",
        "السعر ١٢٥ ريالاً فقط!",
        "قرأت الكتاب مرتين، وما زلت لا أفهم النهاية.",
        "فارسی: امروز هوا خیلی خوب است.",
        "اردو: آپ کیسے ہیں؟",
    ],
    "hebrew": [
        "עברית טקסט",
        "שלום, מה שלומך היום?",
        "הפגישה תתקיים ביום שלישי בשעה 10:00.",
        "בְּרֵאשִׁית בָּרָא אֱלֹהִים אֵת הַשָּׁמַיִם וְאֵת הָאָרֶץ",
        "תודה רבה על העזרה!",
        "המחיר הוא ₪49.90 כולל מע\"מ.",
    ],
    "hindi": [
        "हिन्दी पाठ",
        "नमस्ते, आप कैसे हैं?",
        "भारत एक विशाल और विविधतापूर्ण देश है।",
        "कृपया कल सुबह दस बजे तक रिपोर्ट भेज दें।",
        "मुझे हिंदी में लिखना अच्छा लगता है।",
        "संख्या: १२३४५६७८९०",
        "বাংলা: আমি তোমাকে ভালোবাসি।",
        "தமிழ்: வணக்கம், எப்படி இருக்கிறீர்கள்?",
        "తెలుగు: ధన్యవాదాలు",
        "ગુજરાતી: કેમ છો?",
        "ਪੰਜਾਬੀ: ਸਤ ਸ੍ਰੀ ਅਕਾਲ",
    ],
    "thai_sea": [
        "ไทยภาษา",
        "สวัสดีครับ วันนี้อากาศดีมาก",
        "ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ",
        "กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทย",
        "ขอบคุณมากค่ะ",
        "ລາວ: ສະບາຍດີ",
        "កាន់តែពិសេសអាច",
        "ភាសាខ្មែរ: សួស្តី",
        "မြန်မာ: မင်္ဂလာပါ",
        "Cửa Việt",
        "Tiếng Việt có nhiều dấu thanh: à, á, ả, ã, ạ.",
        "Xin chào, bạn có khỏe không?",
    ],
    "cyrillic": [
        "нещо на Български",
        "Привет, как дела? Всё хорошо, спасибо.",
        "Москва — столица России, крупнейший город страны.",
        "Съешь же ещё этих мягких французских булок, да выпей чаю.",
        "Київ — столиця України.",
        "Ґанок, їжак, є, і — літери української абетки.",
        "Београд је главни град Србије.",
        "Беларуская мова: Добры дзень!",
        "Қазақ тілі: Сәлеметсіз бе?",
        "ПРОГРАММА ЗАВЕРШЕНА С КОДОМ 0",
        "Модель обрабатывает 1500 токенов в секунду.",
    ],
    "greek_other": [
        "Ελληνικά κείμενο",
        "Καλημέρα! Τι κάνεις σήμερα;",
        "Η Αθήνα είναι η πρωτεύουσα της Ελλάδας.",
        "Ξεσκεπάζω την ψυχοφθόρα βδελυγμία.",
        "Հայերեն",
        "Բարև ձեզ, ինչպե՞ս եք։",
        "ქართული",
        "გამარჯობა, როგორ ხარ?",
        "አማርኛ: ሰላም ነው?",
        "ᏣᎳᎩ ᎦᏬᏂᎯᏍᏗ",
        "ᚠᚢᚦᚨᚱᚲ runes",
        "𐌰𐌱𐌲 Gothic",
    ],
    "latin_ext": [
        "Äpfel über Straße",
        "ñandú",
        "façade naïve coöperate",
        "Zażółć gęślą jaźń.",
        "Příliš žluťoučký kůň úpěl ďábelské ódy.",
        "Árvíztűrő tükörfúrógép",
        "Þetta er íslenska; ð og þ eru sérstafir.",
        "Ærøskøbing ligger på Ærø.",
        "Şişli'de çay içtik, ağaçların altında.",
        "Dziękuję bardzo! Do zobaczenia.",
        "Ĉu vi parolas Esperanton? Ĝi estas facila.",
        "Gaeilge: Dia dhuit, conas atá tú?",
    ],
}

# Emoji: single, sequences with ZWJ, skin tones, flags (regional indicators and tag
# sequences), keycaps, variation selectors.
EMOJI_SINGLE = ["🦙", "🚀", "😀", "😂", "🥲", "🤖", "🐍", "🦀", "🐹", "☕", "🔥", "✨", "💡", "📦",
                "🎉", "✅", "❌", "⚠️", "❤️", "⭐", "🌍", "🍕", "🧪", "📈", "🔒", "🫠", "🫶", "🪐"]
EMOJI_ZWJ = ["👨‍👩‍👧‍👦", "👩‍💻", "👨‍🚀", "🧑‍🔬", "👩‍❤️‍👨", "🏳️‍🌈", "🏳️‍⚧️", "🐕‍🦺", "😶‍🌫️",
             "❤️‍🔥", "🧑‍🤝‍🧑", "👁️‍🗨️", "🐻‍❄️", "🧔‍♀️", "👩‍👩‍👦", "🏃‍♀️‍➡️"]
SKIN_TONES = ["\U0001F3FB", "\U0001F3FC", "\U0001F3FD", "\U0001F3FE", "\U0001F3FF"]
SKIN_BASES = ["👍", "👋", "🙏", "👏", "🤝", "💪", "🧑", "👩", "🧒", "✌️"]
FLAGS = ["🇫🇷", "🇩🇪", "🇯🇵", "🇺🇸", "🇧🇷", "🇮🇳", "🇰🇷", "🇳🇬", "🇺🇦", "🇪🇺", "🇨🇦", "🇲🇽",
         "🏴󠁧󠁢󠁥󠁮󠁧󠁿", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "🏴󠁧󠁢󠁷󠁬󠁳󠁿", "🏁", "🚩"]
KEYCAPS = ["1️⃣", "2️⃣", "#️⃣", "*️⃣", "🔟", "0⃣"]

# Combining marks.
COMBINING = [
    "e\u0301", "a\u0308o\u0308", "n\u0303", "c\u0327", "A\u030A", "Ame\u0301lie", "cafe\u0301",
    "Z\u0351\u036B\u0343\u036A\u0302\u036B\u033D\u034F\u0334\u0319\u0324\u031E\u0349\u035A\u032F\u031E\u0320\u034DA\u036B\u0357\u0334\u0362\u0335\u031C\u0330\u0354L\u0368\u0367\u0369\u0358\u0320G\u0311\u0357\u030E\u0305\u035B\u0341\u0334\u033B\u0348\u034D\u0354\u0339O\u0342\u030C\u030C\u0358\u0328\u0335\u0339\u033B\u031D\u0333",
    "ế ề ể ễ ệ", "Tie\u0302\u0301ng Vie\u0323\u0302t", "x\u0332y\u0332z\u0332", "s\u0336t\u0336r\u0336i\u0336k\u0336e\u0336",
    "\u0301leading combining mark", "a\u20DD", "1\u20E3", "q\u0307\u0323", "ŏ\u0304", "i\u0307\u0301",
    "שָׁלוֹם", "क्षत्रिय", "ष्ट्र", "ก่ำ", "ñ\u0303\u0303\u0303", "o\u031B\u0323", "\u0915\u093C",
    "\u1100\u1161\u11A8", "\u0B95\u0BCD\u0BB7", "ǖǘǚǜ", "u\u0308\u0304",
]
COMBINING_MARKS = [chr(c) for c in range(0x0300, 0x0370)] + ["\u1DC0", "\u20D0", "\u20E1", "\uFE20"]

# Valid Unicode that looks odd: noncharacters, private use, unassigned, controls, bidi.
ODD_VALID = [
    "\uFDD0", "\uFDEF", "\uFFFE", "\uFFFF", "\U0001FFFE", "\U0010FFFF", "\U0010FFFD", "\uE000",
    "\uF8FF", "\U000F0000", "\U00100000", "\u0378", "\u0380", "\U0002FFFF", "\U000E0001",
    "\U000E0061", "\u0000", "\u0001", "\u0007", "\u001B[31mred\u001B[0m", "\u007F", "\u0080",
    "\u0085", "\u009F", "\u00AD", "\u034F", "\u061C", "\u200E", "\u200F", "\u202A", "\u202E",
    "\u2066", "\u2069", "\uFFF9", "\uFFFB", "\uFFFC", "\uFFFD", "\uFE0F", "\uFE0E", "\U000E0100",
    "\u1680", "\u180E", "\u2028", "\u2029", "\u2062", "\u2064", "\U0001D11E", "\U0001F9FF",
    "\U00040000", "\U0007FFFD", "\U000BFFFD", "\U000A1234",
]
INVISIBLE = ["\u00A0", "\u202F", "\u2007", "\u200B", "\u200C", "\u200D", "\u2060", "\uFEFF",
             "\u2002", "\u2003", "\u2009", "\u200A", "\u3000", "\u205F", "\u2800"]

MIXED = [
    "Das Meeting ist um 10 Uhr — 会议在10点 — встреча в 10 часов.",
    "The word 'サーバー' means server; in Korean it's '서버'.",
    "Python的list和dict是最常用的数据结构。",
    "Error: ファイルが見つかりません (file not found)",
    "مرحبا Hello שלום Привет 你好 こんにちは 안녕하세요",
    "We met in Zürich, then flew to 東京, then to Москва.",
    "价格 price цена السعر: 42",
    "CPU使用率が90%を超えました！",
    "Use `ls -la` 命令查看文件。",
    "日本語とEnglishとSpanish (español) が混ざった文。",
    "x² + y² = r², ∀x ∈ ℝ, ∑ᵢ aᵢ ≤ ∞",
    "Ｆｕｌｌ－ｗｉｄｔｈ ＡＳＣＩＩ ａｎｄ １２３",
    "𝐁𝐨𝐥𝐝 𝑖𝑡𝑎𝑙𝑖𝑐 𝔉𝔯𝔞𝔨𝔱𝔲𝔯 𝕕𝕠𝕦𝕓𝕝𝕖",
    "ﬁ ﬂ ﬀ ligatures, Ⅻ roman, ① circled, ㎏ squared",
    "हिंदी and English mixed together, भाई!",
    "Arabic numerals ٠١٢٣٤٥٦٧٨٩ and Persian ۰۱۲۳۴۵۶۷۸۹",
]
