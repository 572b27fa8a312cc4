"""What the entrance poster says, in Dutch, French, German and English.

Each language has the privacy notice in two parts: what is read (fixed), and who is
responsible, how long the data are kept and whom to ask (``Privacy``, filled from the
site's record and its controller's retention)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Language:
    title: str
    workplace: str
    steps: tuple[str, str, str]  # eID card, Limosa L1 QR code, keypad
    privacy: str
    # {controller}, {days} and {contact} come from ``Privacy``; ``nobody`` stands for an
    # unknown contact: whoever runs the site.
    responsible: str
    nobody: str


@dataclass(frozen=True, slots=True)
class Privacy:
    """Who is responsible for the data, how long they stay, whom to ask (site.toml)."""

    controller: str  # the data controller: a company's name, or its enterprise number
    retention_days: int
    contact: str | None = None

    def notice(self, language: Language) -> str:
        contact = self.contact or language.nobody
        return language.responsible.format(
            controller=self.controller, days=self.retention_days, contact=contact
        )


LANGUAGES: tuple[Language, ...] = (
    Language(
        title="Nederlands - Aanmelden op deze werf",
        workplace="Werfnummer",
        steps=(
            "Steek uw elektronische identiteitskaart (eID) in de kaartlezer.",
            "Gedetacheerde werknemer: toon de QR-code van uw Limosa L1-attest aan de camera.",
            "Geen kaart? Tik uw rijksregisternummer of Limosanummer op het toetsenbord.",
        ),
        privacy=(
            "Privacy: uw rijksregisternummer wordt alleen gelezen voor de wettelijke registratie "
            "van uw aanwezigheid bij de RSZ (Checkinatwork). Er wordt geen foto en geen adres "
            "gelezen."
        ),
        responsible=(
            "Verwerkingsverantwoordelijke: {controller}. Uw gegevens worden {days} dagen bewaard "
            "(zolang de inspectie ze kan opvragen) en daarna gewist. Vragen, inzage of "
            "verbetering: {contact}."
        ),
        nobody="de werfleider",
    ),
    Language(
        title="Français - S'enregistrer sur ce chantier",
        workplace="Numéro de chantier",
        steps=(
            "Introduisez votre carte d'identité électronique (eID) dans le lecteur.",
            "Travailleur détaché : présentez le code QR de votre attestation Limosa L1 à la "
            "caméra.",
            "Pas de carte ? Tapez votre numéro de registre national ou votre numéro Limosa sur "
            "le clavier.",
        ),
        privacy=(
            "Vie privée : votre numéro de registre national est lu uniquement pour "
            "l'enregistrement légal de votre présence auprès de l'ONSS (Checkinatwork). Ni "
            "photo ni adresse ne sont lues."
        ),
        responsible=(
            "Responsable du traitement : {controller}. Vos données sont conservées {days} jours "
            "(le délai pendant lequel l'inspection peut les demander), puis effacées. Questions, "
            "accès ou rectification : {contact}."
        ),
        nobody="le responsable du chantier",
    ),
    Language(
        title="Deutsch - Auf dieser Baustelle anmelden",
        workplace="Baustellennummer",
        steps=(
            "Stecken Sie Ihren elektronischen Personalausweis (eID) in das Kartenlesegerät.",
            "Entsandter Arbeitnehmer: Zeigen Sie den QR-Code Ihrer Limosa-L1-Bescheinigung der "
            "Kamera.",
            "Keine Karte? Tippen Sie Ihre Nationalregisternummer oder Limosa-Nummer auf der "
            "Tastatur ein.",
        ),
        privacy=(
            "Datenschutz: Ihre Nationalregisternummer wird nur für die gesetzliche Registrierung "
            "Ihrer Anwesenheit beim LSS (Checkinatwork) gelesen. Es werden weder Foto noch "
            "Adresse gelesen."
        ),
        responsible=(
            "Verantwortlicher für die Verarbeitung: {controller}. Ihre Daten werden {days} Tage "
            "aufbewahrt (solange die Inspektion sie anfordern kann) und dann gelöscht. Fragen, "
            "Auskunft oder Berichtigung: {contact}."
        ),
        nobody="die Bauleitung",
    ),
    Language(
        title="English - Check in on this site",
        workplace="Workplace number",
        steps=(
            "Insert your electronic identity card (eID) into the card reader.",
            "Posted worker: show the QR code of your Limosa L1 certificate to the camera.",
            "No card? Type your national register number or Limosa number on the keypad.",
        ),
        privacy=(
            "Privacy: your national register number is read only for the legal registration of "
            "your presence with the NSSO (Checkinatwork). No photo and no address are read."
        ),
        responsible=(
            "Data controller: {controller}. Your data are kept {days} days (as long as an "
            "inspection may ask for them) and then erased. Questions, access or correction: "
            "{contact}."
        ),
        nobody="the site manager",
    ),
)
