"""A small labelled retrieval set: documents on distinct topics, and questions whose answer
lies in a known document. Questions paraphrase rather than copy their passage, and several
documents share vocabulary, so the set separates good retrieval from lucky retrieval."""

DOCUMENTS = {
    "bees.md": """# Honey bees

A honey bee colony has one queen, thousands of female workers and a few hundred drones.
The queen lays up to two thousand eggs a day during spring.

Workers forage for nectar and pollen within a few kilometres of the hive. They tell each
other where flowers are with the waggle dance, whose angle points towards the food source.

In winter the colony clusters together and shivers its flight muscles to keep the queen warm.
""",
    "volcanoes.md": """# Volcanoes

A volcano forms where magma from the mantle reaches the surface. Shield volcanoes, such as
Mauna Loa in Hawaii, have gentle slopes built by runny basalt lava.

Stratovolcanoes like Mount Fuji are steep cones of alternating ash and lava layers. Their
sticky magma traps gas, which makes their eruptions explosive.

Volcanic ash can ground aircraft: in 2010 an Icelandic eruption closed European airspace.
""",
    "sourdough.md": """# Sourdough bread

Sourdough rises with a starter, a culture of wild yeast and lactic acid bacteria kept alive
by regular feeding with flour and water.

The bacteria produce lactic and acetic acids, which give the bread its sour taste and help it
keep longer than bread made with baker's yeast.

A long, cold fermentation in the refrigerator deepens the flavour and makes the dough easier
to shape.
""",
    "chess.md": """# Chess openings

The Sicilian Defence answers White's king pawn with the c-pawn and leads to sharp,
unbalanced positions. It is the most popular reply to 1.e4 at master level.

The Queen's Gambit offers a pawn on c4 to gain control of the centre; accepting it is
considered safe for Black if the pawn is returned.

Castling early protects the king and connects the rooks.
""",
    "tides.md": """# Ocean tides

Tides are caused mainly by the gravitational pull of the Moon on the oceans, with a smaller
contribution from the Sun.

Spring tides, with the largest range, happen at new and full moon, when Sun and Moon line up.
Neap tides, with the smallest range, happen at the quarter moons.

The Bay of Fundy in Canada has the highest tidal range in the world, up to sixteen metres.
""",
    "compilers.md": """# Compilers

A compiler translates source code into machine code in several phases: lexing turns
characters into tokens, parsing builds a syntax tree, and code generation emits instructions.

Optimising compilers inline small functions and unroll loops to make programs faster.

A just-in-time compiler compiles code while the program runs, using information about which
paths are hot.
""",
    "coffee.md": """# Coffee

Arabica and robusta are the two main coffee species. Robusta beans contain about twice as much
caffeine as arabica beans and taste more bitter.

Espresso is brewed by forcing hot water through finely ground coffee at about nine bars of
pressure. Cold brew steeps coarse grounds in cold water for twelve hours or more.
""",
    "glaciers.md": """# Glaciers

A glacier forms where more snow falls in winter than melts in summer, so that snow compacts
into ice over many years.

Glaciers move downhill under their own weight and carve U-shaped valleys. Moraines are
ridges of rock and gravel they push ahead of them or leave along their sides.
""",
}

# Confusers: same vocabulary as the documents above, none of their answers.
DOCUMENTS.update({
    "bumblebees.md": """# Bumblebees

Bumblebee colonies are small: a queen founds one alone in spring, and the colony dies out in
autumn except for new queens, which hibernate in the soil. Bumblebees can fly in colder
weather than honey bees and buzz flowers to shake pollen loose.
""",
    "ridges.md": """# Mid-ocean ridges

Along mid-ocean ridges the sea floor spreads apart and magma rises to fill the gap, making
new crust. Hot springs called black smokers vent mineral-rich water on the ridge.
""",
    "yeast_bread.md": """# Bread with baker's yeast

Most supermarket bread rises with commercial baker's yeast, which works fast and tastes mild.
Kneading develops gluten, and a warm room speeds up the rise of the dough.
""",
    "checkers.md": """# Draughts

In draughts a piece that reaches the far row is crowned king and may move backwards. Capturing
is compulsory, and the game opening is often chosen by lot in tournaments.
""",
    "currents.md": """# Ocean currents

Ocean currents are driven by wind and by differences in water density. The Gulf Stream
carries warm water from the Gulf of Mexico across the Atlantic towards Europe.
""",
    "interpreters.md": """# Interpreters

An interpreter runs source code directly, reading one statement at a time, instead of
translating the whole program first. Scripting languages are often interpreted.
""",
    "tea.md": """# Tea

Black, green and white tea all come from the same plant. A cup of tea contains less caffeine
than a cup of coffee, and green tea is brewed with water below boiling.
""",
    "sea_ice.md": """# Sea ice

Sea ice forms when the surface of the ocean freezes in winter. Unlike glaciers it floats and
moves with winds and currents, and most of it melts again in summer.
""",
})

# (question, the document holding its answer)
QUESTIONS = [
    ("How many eggs can a queen bee lay each day?", "bees.md"),
    ("How do worker bees tell each other where flowers are?", "bees.md"),
    ("How do bees keep warm during winter?", "bees.md"),
    ("Why are stratovolcano eruptions explosive?", "volcanoes.md"),
    ("What kind of lava builds shield volcanoes?", "volcanoes.md"),
    ("Which eruption closed European airspace?", "volcanoes.md"),
    ("What makes sourdough taste sour?", "sourdough.md"),
    ("What is a sourdough starter?", "sourdough.md"),
    ("Why ferment dough in the refrigerator?", "sourdough.md"),
    ("What is the most popular reply to 1.e4?", "chess.md"),
    ("What does the Queen's Gambit offer?", "chess.md"),
    ("Why castle early in chess?", "chess.md"),
    ("What causes ocean tides?", "tides.md"),
    ("When do spring tides happen?", "tides.md"),
    ("Where is the highest tidal range in the world?", "tides.md"),
    ("What are the phases of a compiler?", "compilers.md"),
    ("How do optimising compilers make programs faster?", "compilers.md"),
    ("What is a just-in-time compiler?", "compilers.md"),
    ("Which coffee beans contain more caffeine?", "coffee.md"),
    ("How is espresso brewed?", "coffee.md"),
    ("How long does cold brew steep?", "coffee.md"),
    ("How does a glacier form?", "glaciers.md"),
    ("What are moraines?", "glaciers.md"),
    ("What kind of valleys do glaciers carve?", "glaciers.md"),
]


def write(folder) -> None:
    """Write the documents into `folder`."""
    for name, text in DOCUMENTS.items():
        (folder / name).write_text(text, encoding="utf-8")
