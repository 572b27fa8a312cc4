"""What the entrance poster says, in Dutch, French and English."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Language:
    title: str
    workplace: str
    steps: tuple[str, str, str]  # eID card, Limosa L1 QR code, keypad
    privacy: str


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
    ),
)
